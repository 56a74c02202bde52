/**
 * The relay as a real process against a real broker, with a stand-in worker at the process
 * boundary (stand-in-worker.mjs through OTA_AGENT_SELF), and an observer mqtt.js client that
 * records what the device publishes. Waits are on messages and files, never on time.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { start, type Started } from '../../../common/exec.js';
import { MQTT_DEFAULTS, type MqttConfig } from '../../../device-agent/config/schema.js';
import { relayNodeFlags } from '../../../device-agent/daemon/node-flags.js';
import { bundledChild } from '../../helpers/bundled-child.js';

const STAND_IN = join(import.meta.dirname, 'stand-in-worker.mjs');
export const DEVICE = 'gw-1';
export const KID = 'trusted-kid-1';

export interface RelayRoot {
  root: string;
  stateDir: string;
  remove: () => Promise<void>;
}

/** A root whose stand-in `config --json` gives this mqtt block (null: no broker). */
export async function relayRoot(mqtt: Partial<MqttConfig> & { url: string } | null): Promise<RelayRoot> {
  const root = await mkdtemp(join(tmpdir(), 'ota-relay-'));
  const stateDir = join(root, 'var/lib/ota');
  await mkdir(stateDir, { recursive: true });
  await mkdir(join(root, 'stand-in'));
  const config = { deviceId: DEVICE, group: 'lab', sysroot: root, stateDir, mqtt: mqtt === null ? null : { ...MQTT_DEFAULTS, telemetryIntervalSeconds: 0, ...mqtt } };
  await writeFile(join(root, 'stand-in/config.json'), JSON.stringify({ apiVersion: 'deb-ota/v1', kind: 'AgentConfig', files: [], config, trustedKids: [KID] }));
  return { root, stateDir, remove: () => rm(root, { recursive: true, force: true }) };
}

export interface RelayProcess extends Started {
  journal: () => string;
}

export async function startRelay(r: RelayRoot): Promise<RelayProcess> {
  const entry = await bundledChild(join(import.meta.dirname, 'relay-entry.ts'));
  const child = start('relay', [process.execPath, ...relayNodeFlags(), entry, 'daemon', '--root', r.root], {
    env: { ...process.env, OTA_AGENT_SELF: JSON.stringify([process.execPath, STAND_IN]) },
  });
  let journal = '';
  child.onStderr((t) => (journal += t));
  return Object.assign(child, { journal: () => journal });
}

export interface Job {
  job: string;
  args?: string[];
  input?: string;
  terminated?: boolean;
}

/** The jobs the stand-in worker was given, in order. */
export async function jobs(r: RelayRoot): Promise<Job[]> {
  const text = await readFile(join(r.root, 'stand-in/jobs.log'), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Job);
}

/** Waits until `check` holds, looking again every 50 ms; the test's own timeout bounds it. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`waited ${timeoutMs / 1000} s for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Seen {
  topic: string;
  text: string;
  retain: boolean;
}

/** An mqtt.js client that records every message under the device's topics, retained ones too. */
export class Observer {
  readonly seen: Seen[] = [];
  private constructor(readonly client: MqttClient) {}

  static async connect(url: string, options: Parameters<typeof connect>[1] = {}): Promise<Observer> {
    const client = connect(url, { reconnectPeriod: 500, ...options });
    const o = new Observer(client);
    client.on('message', (topic, payload, packet) => o.seen.push({ topic, text: payload.toString('utf8'), retain: packet.retain }));
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(`ota/devices/${DEVICE}/#`, { qos: 1 });
    return o;
  }

  /** The documents seen on one leaf topic (online, status, events...), parsed. */
  docs(leaf: string): Record<string, unknown>[] {
    return this.seen.filter((s) => s.topic === `ota/devices/${DEVICE}/${leaf}`).map((s) => JSON.parse(s.text) as Record<string, unknown>);
  }

  presence(): boolean[] {
    return this.docs('online').map((d) => d.online as boolean);
  }

  async send(topic: string, payload: string | Buffer, retain = false): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1, retain });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** A compact JWS of the right shape and header; the stand-in worker does not verify it. */
export function jwsShaped(typ: 'release' | 'command', o: { kid?: string; alg?: string; body?: string } = {}): string {
  const header = Buffer.from(JSON.stringify({ alg: o.alg ?? 'EdDSA', typ: `deb-ota-${typ}+jws`, kid: o.kid ?? KID })).toString('base64url');
  return `${header}.${Buffer.from(o.body ?? '{}').toString('base64url')}.c2ln`;
}
