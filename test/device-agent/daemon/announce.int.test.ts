import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { startOtaServe, type OtaServe } from '../../helpers/ota-serve.js';
import { fleet, GROUP, removeDevices, type Fleet } from '../agent/device.js';
import { adminStatus, bootedCommit, IDLE_BOOT_STATE, record } from '../agent/run-agent.js';
import { makeMqttDevice, startRelay } from './harness.js';
import { observe, summary } from './observer.js';
import { inOrder, online, phases, reboot, toReboot } from './scenario.js';
import { announce, command, operatorKey, publishRaw, releaseFile, TOPICS } from './signing.js';

// The MQTT proof through the real processes: the relay (`ota-agent daemon`) on a device
// running 1.0 hears of 1.1 from `ota announce` on the broker, its workers apply it to the stand-in
// reboot; after the stand-in boot the relay starts again and the update is committed. An observer
// on the broker sees the retained status go through the phases, the events, presence and the
// inventory; then a command, its replay and garbage. Once against Mosquitto (MQTT 5), once against
// `ota serve`'s embedded broker (aedes, MQTT 3.1.1: the fallback), which then also serves the
// published directory over HTTP.

let tmp: string;
let f: Fleet;
let mosquitto: Mosquitto;
let serve: OtaServe;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-mqtt-announce-'));
  f = await fleet(tmp, ['1.0', '1.1']);
  mosquitto = await startMosquitto();
  serve = await startOtaServe(f.publisher.pub);
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await mosquitto?.stop();
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

/** The broker and the HTTP remote of each run: Mosquitto with the fleet's static server, or `ota serve` for both. */
const brokers = () => [
  { url: mosquitto.url, remote: f.server.url },
  { url: serve.mqttUrl!, remote: serve.httpUrl },
];

describe('a release announced over MQTT is applied (stand-in reboot and stand-in boot)', () => {
  for (const which of [0, 1]) {
    it(`${which === 0 ? 'Mosquitto (MQTT 5)' : "ota serve's embedded broker (MQTT 3.1.1)"}: picked up, staged, committed after the boot; a command, its replay, garbage`, async () => {
      const b = brokers()[which]!;
      const d = await makeMqttDevice(f, { dir: join(tmp, `device-${which}`), broker: b.url, etc: { remote: b.remote } });
      const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
      const obs = await observe(b.url, 'gw-0001');
      let relay = await startRelay(d);
      try {
        await online(obs);
        // On connect the relay reports: the status (idle on 1.0) and the inventory of what runs.
        await obs.waitFor('status', (s) => s.phase === 'idle' && s.deployments.booted?.commit === A, 'idle on 1.0');
        await obs.waitFor('inventory', (i) => i.commit === A && i.packages.some((p) => p.name === 'fx' && p.version === '1.0'), 'the inventory of 1.0');

        const from = obs.seen.status.length;
        await announce(f, b.url, releaseFile(f, '1.1'), GROUP);
        const staged = await toReboot(d, obs, from);
        expect(staged.deployments.staged?.commit).toBe(B);
        // From the check on (the relay may report idle once more before the worker begins).
        const after = obs.seen.status.slice(from);
        const during = after.slice(after.findIndex((s) => s.phase === 'checking'));
        expect(inOrder(phases(during), ['checking', 'downloading', 'staging', 'rebooting', 'staged']), phases(during).join(' ')).toBe(true);
        const ids = new Set(during.map((s) => s.updateId));
        expect([...ids].length, summary(obs.seen)).toBe(1);
        const updateId = [...ids][0]!;
        expect(updateId).not.toBeNull();
        const events = obs.events('checking', 'downloading', 'staging', 'rebooting', 'staged');
        expect(events.every((e) => e.updateId === updateId)).toBe(true);
        expect(inOrder(events.map((e) => e.type), ['downloading', 'staging', 'rebooting']), summary(obs.seen)).toBe(true);
        expect((await record(d)).state).toBe('awaitingReboot');

        const booted = await reboot(d, relay, obs);
        relay = booted.relay;
        expect(booted.booted).toBe(B);
        await obs.waitFor('status', (s) => s.phase === 'committed' && s.updateId === updateId, 'committed');
        await obs.waitFor('status', (s) => s.phase === 'idle' && s.deployments.booted?.commit === B, 'idle on 1.1');
        await obs.waitFor('inventory', (i) => i.commit === B && i.packages.some((p) => p.name === 'fx' && p.version === '1.1'), 'the inventory of 1.1');
        expect(obs.events('committed').map((e) => e.updateId)).toContain(updateId);

        const r = await record(d);
        expect(r.lastResult).toMatchObject({ result: 'committed', version: '1.1', fromCommit: A, toCommit: B });
        expect(await bootedCommit(d)).toBe(B);
        expect(await adminStatus(d)).toEqual([B, A]);
        expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);

        // Commands travel this broker too: one done, the same bytes again refused, and garbage refused.
        const report = await command(await operatorKey(f), { device: 'gw-0001' }, { type: 'report' });
        const from2 = obs.seen.event.length;
        await publishRaw(b.url, [{ topic: TOPICS.deviceCommands('gw-0001'), payload: report }]);
        await obs.waitFor('event', (e) => e.type === 'command-completed', 'the report command completed', from2);
        await publishRaw(b.url, [{ topic: TOPICS.deviceCommands('gw-0001'), payload: report }, { topic: TOPICS.groupRelease(GROUP), payload: 'garbage' }]);
        expect((await obs.waitFor('event', (e) => e.type === 'command-refused', 'the replay refused', from2)).reason).toMatch(/^replayed/);
        expect((await obs.waitFor('event', (e) => e.type === 'refused', 'the garbage refused', from2)).reason).toMatch(/^malformed/);
        expect(obs.invalid).toEqual([]);
      } finally {
        const end = await relay.stop();
        await obs.close();
        expect(end.code, relay.journal()).toBe(0);
      }
    });
  }
});
