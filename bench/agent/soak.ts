/**
 * The accelerated soak: the relay runs with telemetry every 0.05 s while the bench takes its MQTT
 * session over again and again (a client connecting with the device's client id, as a second
 * device with a cloned identity would) and sends signed `report` commands, so that in minutes it
 * goes through the status, telemetry and reconnect cycles a device sees in months. Its RSS is
 * sampled throughout; RSS between two garbage collections is noise, the floor (the low point of
 * a tenth of the soak) is what stays. Growth is the floor of the last tenth against that of the
 * sixth: the first half is warm-up. Over 900 s soaks the floor steps up by about 3 MB once,
 * between 250 and 450 s in, and is level after (docs/agent.md, "Footprint of the relay"); the
 * growth from the second tenth is printed as well.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { signDocument, type SigningKey, topics } from '../../contract/index.js';
import { connectBroker } from '../../host-tools/mqtt/client.js';
import { rssKb, rssParts } from './proc.js';
import { quiet, type Observer } from './relay.js';

export interface SoakOptions {
  pid: number;
  observer: Observer;
  broker: { url: string; device: string; key: SigningKey };
  seconds: number;
}

export interface SoakResult {
  seconds: number;
  takeovers: number;
  commands: number;
  statuses: number;
  telemetry: number;
  reconnects: number;
  commandsCompleted: number;
  /** The floor of the second tenth (the first is start-up). */
  firstFloorKb: number;
  /** The floor of the sixth tenth: where the warm-up is over. */
  warmFloorKb: number;
  lastFloorKb: number;
  /** The RSS floor of each tenth of the soak: a leak climbs to the end, a heap warming up levels off. */
  floorsKb: number[];
  /** The same for RssAnon alone (the heap; RssFile is code pages). */
  anonFloorsKb: number[];
  maxKb: number;
  settledKb: number;
}

async function sendReport(o: SoakOptions): Promise<void> {
  const command = { apiVersion: 'deb-ota/v1', kind: 'Command', target: { device: o.broker.device }, action: { type: 'report' }, reason: 'bench soak' } as const;
  const jws = await signDocument('command', command, o.broker.key);
  await o.observer.session.publish(topics().deviceCommands(o.broker.device), jws, { qos: 1, retain: false });
}

/**
 * A client with the device's id connects and leaves: the broker drops the relay's connection, which
 * comes back. The relay then stays connected for a moment, so telemetry and statuses flow between
 * take-overs (QoS 0 telemetry is not kept while disconnected).
 */
async function takeOver(o: SoakOptions): Promise<void> {
  const before = o.observer.seen.onlines;
  const thief = await connectBroker({ url: o.broker.url, clientId: o.broker.device });
  await thief.close();
  await o.observer.until('the relay back online after a take-over', (s) => s.onlines > before, 60);
  await sleep(CONNECTED_MS);
}

const CONNECTED_MS = 500;

export async function soak(o: SoakOptions): Promise<SoakResult> {
  const samples: { t: number; kb: number; anon: number }[] = [];
  const t0 = Date.now();
  const end = t0 + o.seconds * 1000;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const r = await rssParts(o.pid);
      samples.push({ t: Date.now() - t0, kb: r.rss, anon: r.anon });
      await sleep(500);
    }
  })();
  const start = { ...countsOf(o.observer) };
  let takeovers = 0;
  let commands = 0;
  while (Date.now() < end) {
    if (takeovers % 2 === 0) {
      await sendReport(o);
      commands++;
    }
    await takeOver(o);
    takeovers++;
  }
  await quiet(o.pid, 3);
  sampling = false;
  await sampler;
  const settledKb = await rssKb(o.pid);
  const now = countsOf(o.observer);
  const tenth = o.seconds * 100;
  const floor = (from: number, to: number, k: 'kb' | 'anon' = 'kb') => Math.min(...samples.filter((s) => s.t >= from && s.t < to).map((s) => s[k]));
  return {
    seconds: (Date.now() - t0) / 1000,
    takeovers,
    commands,
    statuses: now.statuses - start.statuses,
    telemetry: now.telemetry - start.telemetry,
    reconnects: now.onlines - start.onlines,
    commandsCompleted: now.completed - start.completed,
    floorsKb: Array.from({ length: 10 }, (_v, i) => floor(i * tenth, i === 9 ? Infinity : (i + 1) * tenth)),
    anonFloorsKb: Array.from({ length: 10 }, (_v, i) => floor(i * tenth, i === 9 ? Infinity : (i + 1) * tenth, 'anon')),
    firstFloorKb: floor(tenth, 2 * tenth),
    warmFloorKb: floor(5 * tenth, 6 * tenth),
    lastFloorKb: floor(o.seconds * 1000 - tenth, Infinity),
    maxKb: Math.max(...samples.map((s) => s.kb)),
    settledKb,
  };
}

function countsOf(obs: Observer): { statuses: number; telemetry: number; onlines: number; completed: number } {
  const s = obs.seen;
  return { statuses: s.counts.get('status') ?? 0, telemetry: s.counts.get('telemetry') ?? 0, onlines: s.onlines, completed: s.eventTypes.get('command-completed') ?? 0 };
}
