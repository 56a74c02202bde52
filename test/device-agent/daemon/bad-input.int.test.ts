import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, signDocument, type DeviceEvent, type SigningKey } from '../../../contract/index.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { fleet, GROUP, removeDevices, type Device, type Fleet } from '../agent/device.js';
import { adminStatus, IDLE_BOOT_STATE, rebootRequests } from '../agent/run-agent.js';
import { hashTree } from '../update/harness.js';
import { makeMqttDevice, startRelay, type Relay } from './harness.js';
import { observe, type Observer } from './observer.js';
import { online } from './scenario.js';
import { claims, command, operatorKey, publishRaw, releaseFile, releaseManifest, signRaw, tampered, TOPICS } from './signing.js';
import { diskSnapshot } from './snapshot.js';

// Bad input over MQTT never crashes the agent and never changes the device:
// each bad release and each bad command is reported as an event with its reason, and a flood of
// them is rate-limited: the events and journal lines stay few and nothing is written to disk.
// Everything is sent by a plain mqtt.js client: anyone who can publish on the broker can send it.

const DEVICE = 'gw-0001';
const MAX_PAYLOAD = 65_536;
let tmp: string;
let f: Fleet;
let broker: Mosquitto;
let key: SigningKey;
let d: Device;
let obs: Observer;
let relay: Relay;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-mqtt-bad-'));
  f = await fleet(tmp, ['1.0', '1.1']);
  broker = await startMosquitto();
  key = await operatorKey(f);
  d = await makeMqttDevice(f, { dir: join(tmp, 'device'), broker: broker.url, mqtt: { maxPayloadBytes: MAX_PAYLOAD } });
  obs = await observe(broker.url, DEVICE);
}, 120_000);

afterAll(async () => {
  if (relay) await relay.stop();
  await obs?.close();
  await broker?.stop();
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

/** What must not change: the record, the sysroot, the deployments, the bootloader. */
async function deviceState(): Promise<unknown> {
  return {
    record: await readFile(join(d.stateDir, 'state.json'), 'utf8').catch(() => null),
    sysroot: await hashTree(d.sysroot),
    deployments: await adminStatus(d),
    boot: await d.backend.getState(),
    reboots: await rebootRequests(d),
  };
}

/** (Re)starts the relay (a fresh rate limiter) and waits until it is online, has reported, and runs no worker. */
async function freshRelay(): Promise<void> {
  if (relay) expect((await relay.stop()).code, relay.journal()).toBe(0);
  const [presence, inventory] = [obs.seen.presence.length, obs.seen.inventory.length];
  relay = await startRelay(d);
  await online(obs, presence);
  await obs.waitFor('inventory', () => true, 'the report after connecting', inventory);
  await relay.noWorker();
}

/** Sends one payload and returns the next refusal event it caused. */
async function refusal(topic: string, payload: string | Buffer, type: 'refused' | 'command-refused'): Promise<DeviceEvent> {
  const from = obs.seen.event.length;
  await publishRaw(broker.url, [{ topic, payload }]);
  return obs.waitFor('event', (e) => e.type === type, `a ${type} event`, from);
}

describe('bad input over MQTT: reported with its reason, nothing changed', () => {
  it('bad releases on the group topic', async () => {
    await freshRelay();
    const topic = TOPICS.groupRelease(GROUP);
    const good = (await readFile(releaseFile(f, '1.1'), 'utf8')).trim();
    const manifest = await releaseManifest(f, '1.1');
    const [h, p] = good.split('.');
    const stranger = await generateSigningKey();
    const before = await deviceState();
    const cases: [string, string | Buffer, RegExp][] = [
      ['malformed JSON', '{"this is": not json', /malformed/i],
      ['invalid UTF-8', Buffer.from([0x65, 0x79, 0xff, 0xfe, 0x2e, 0x2e]), /utf-?8/i],
      ['oversized', 'e'.repeat(MAX_PAYLOAD + 1), /size|large/i],
      ['a missing signature', `${h}.${p}.`, /malformed|signature/i],
      ['a bad signature', tampered(good), /signature/i],
      ['an unknown key', await signRaw(key, { typ: 'deb-ota-release+jws' }, { ...manifest, surprise: true, ...claims(3600) }), /schema|surprise|unknown|unrecognized/i],
      ['expired', await signDocument('release', manifest, key, { now: new Date(Date.now() - 7 * 86_400_000), expiresInSeconds: 3600 }), /expired/i],
      ['a key the device does not trust', await signDocument('release', manifest, stranger), /kid|key/i],
      ['a command on the release topic', await command(key, { device: DEVICE }, { type: 'update' }), /typ/i],
    ];
    for (const [what, payload, reason] of cases) {
      const e = await refusal(topic, payload, 'refused');
      expect(e.reason, what).toMatch(reason);
    }
    // A release for another board is signed and well-formed: the worker's preflight refuses it.
    const otherBoard = await signDocument('release', { ...manifest, board: 'otherboard' }, key);
    expect((await refusal(topic, otherBoard, 'refused')).reason).toMatch(/board/);
    expect(await deviceState()).toEqual(before);
    expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);
    expect(relay.journal()).not.toMatch(/^<[0-2]>/m);
  });

  it('bad commands on the device topic, and a command replayed after a restart', async () => {
    await freshRelay();
    const topic = TOPICS.deviceCommands(DEVICE);
    const report = await command(key, { device: DEVICE }, { type: 'report' });
    const from = obs.seen.event.length;
    await publishRaw(broker.url, [{ topic, payload: report }]);
    await obs.waitFor('event', (e) => e.type === 'command-completed', 'the report command completed', from);
    // The agent restarts (its nonce store is on disk): the same command again is a replay.
    await freshRelay();
    const before = await deviceState();
    const nonce = (JSON.parse(Buffer.from(report.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
    const body = { apiVersion: 'deb-ota/v1', kind: 'Command', target: { device: DEVICE }, reason: null };
    const cases: [string, string | Buffer, RegExp][] = [
      ['malformed JSON', 'not a jws at all', /malformed/i],
      ['oversized', 'e'.repeat(20_000), /size|large/i],
      ['a bad signature', tampered(await command(key, { device: DEVICE }, { type: 'reboot' })), /signature/i],
      ['an unknown key', await signRaw(key, { typ: 'deb-ota-command+jws' }, { ...body, action: { type: 'reboot' }, surprise: 1, ...claims(600, { jti: 'n-unknown-key' }) }), /schema|surprise|unknown|unrecognized/i],
      ['an unknown command', await signRaw(key, { typ: 'deb-ota-command+jws' }, { ...body, action: { type: 'format-disk' }, ...claims(600, { jti: 'n-unknown-action' }) }), /schema|action|format-disk/i],
      ['expired', await command(key, { device: DEVICE }, { type: 'reboot' }, { now: new Date(Date.now() - 86_400_000), expiresInSeconds: 600 }), /expired/i],
      ['for another device', await command(key, { device: 'gw-0002' }, { type: 'reboot' }), /not-for-this-device|device/i],
      ['a release on the command topic', (await readFile(releaseFile(f, '1.1'), 'utf8')).trim(), /typ/i],
      ['replayed', report, /replayed/i],
    ];
    for (const [what, payload, reason] of cases) {
      const e = await refusal(topic, payload, 'command-refused');
      expect(e.reason, what).toMatch(reason);
    }
    expect(obs.events('command-received').filter((e) => e.updateId === nonce)).toHaveLength(1);
    expect(await deviceState()).toEqual(before);
    expect(relay.journal()).not.toMatch(/^<[0-2]>/m);
  });

  it('a flood of 300 bad messages: few events, few journal lines, nothing written to disk', async () => {
    await freshRelay();
    const before = await deviceState();
    const disk = await diskSnapshot(d.dir);
    const events = obs.seen.event.length;
    const journal = relay.journal().split('\n').length;
    const flood = Array.from({ length: 300 }, (_, i) =>
      i % 2 === 0 ? { topic: TOPICS.groupRelease(GROUP), payload: `garbage ${i}` } : { topic: TOPICS.deviceCommands(DEVICE), payload: Buffer.from([0xc3, 0x28, i & 0xff]) },
    );
    // The flood, then a well-signed release for another board (a worker refuses it, and its report is
    // not bad input): once that is reported, the relay has checked every message before it.
    const sentinel = await signDocument('release', { ...(await releaseManifest(f, '1.1')), board: 'otherboard' }, key);
    await publishRaw(broker.url, [...flood, { topic: TOPICS.groupRelease(GROUP), payload: sentinel }]);
    await obs.waitFor('event', (e) => e.type === 'refused' && /board/.test(e.reason ?? ''), 'the release after the flood', events);
    await relay.noWorker();
    const reported = obs.seen.event.slice(events).filter((e) => (e.type === 'refused' || e.type === 'command-refused') && !/board/.test(e.reason ?? ''));
    // The bucket's burst (10), and one more per 6 s the flood lasted: bounded whatever the flood's size.
    expect(reported.length, reported.map((e) => e.reason).join('\n')).toBeGreaterThanOrEqual(10);
    expect(reported.length, reported.map((e) => e.reason).join('\n')).toBeLessThanOrEqual(20);
    expect(relay.lines(/refused a message/).length).toBeLessThanOrEqual(20);
    expect(relay.journal().split('\n').length - journal).toBeLessThanOrEqual(30);
    // Every file as it was. The state folder's own time alone may move: the release worker held the
    // agent's lock (created, then removed) while it refused the sentinel.
    const { state: _before, ...files } = disk;
    const { state: _after, ...now } = await diskSnapshot(d.dir);
    expect(now).toEqual(files);
    expect(await deviceState()).toEqual(before);
  });
});
