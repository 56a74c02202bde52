import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticDeltaPath } from '../../../node-ostree/index.js';
import { freePort, startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { fleet, GROUP, removeDevices, type Fleet } from '../agent/device.js';
import { adminStatus, chain, CHAINS, otaAgent, rebootRequests, record, until } from '../agent/run-agent.js';
import { partialReaches } from '../update/harness.js';
import { makeMqttDevice, startRelay, type Relay } from './harness.js';
import { observe, summary } from './observer.js';
import { online, phases } from './scenario.js';
import { announce, releaseFile } from './signing.js';

// When the broker goes away the device goes on over HTTP, and tells the broker when it returns:
// a broker stopped in the middle of an update's download (the static server
// holds a delta part after 50,000 bytes until the broker is down); the relay stopped there with
// SIGTERM, and started again; the last will when the relay is
// SIGKILLed; and a broker that never answers, where the relay falls back to polling the group's
// release over HTTP. The broker keeps its sessions in a persistence folder across its restart.

const CUT = 50_000;
let tmp: string;
let f: Fleet;
let broker: Mosquitto;
let persistence: string;
const relays: Relay[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-mqtt-away-'));
  f = await fleet(tmp, ['1.0', '1.1']);
  persistence = await mkdtemp(join(tmpdir(), 'ota-mqtt-away-broker-'));
  broker = await startMosquitto({ persistenceDir: persistence });
}, 120_000);

afterAll(async () => {
  for (const r of relays) await r.stop();
  await broker?.stop();
  await f?.close();
  if (tmp) await removeDevices(tmp);
  if (persistence) await rm(persistence, { recursive: true, force: true });
});

describe('the broker or the relay away', () => {
  it('stopped mid-download: the update goes on over HTTP, and the status reaches the broker when it returns', async () => {
    const d = await makeMqttDevice(f, { dir: join(tmp, 'device-mid'), broker: broker.url });
    const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
    const part = `/repo/${staticDeltaPath(A, B)}/0`;
    const partSize = (await stat(join(f.publisher.pub, part))).size;
    const obs = await observe(broker.url, 'gw-0001');
    const relay = await startRelay(d);
    relays.push(relay);
    await online(obs);
    f.server.requests.length = 0;

    const cutter = f.server.cutOnce(part, CUT);
    await announce(f, broker.url, releaseFile(f, '1.1'), GROUP);
    await partialReaches(join(d.stateDir, 'download', B, '0'), CUT);
    const downloading = await obs.waitFor('status', (s) => s.phase === 'downloading', 'downloading');
    await broker.stop();
    cutter.drop();

    // Without the broker: the download resumes from the cut and the update reaches the reboot.
    await until('the update waits for its reboot', async () => (await rebootRequests(d)) === 1 && (await record(d)).state === 'awaitingReboot');
    expect(await adminStatus(d)).toEqual([B, A]);
    expect(f.server.requests.filter((q) => q.path === part).map((q) => [q.range, q.sent])).toEqual([
      [undefined, CUT],
      [`bytes=${CUT}-`, partSize - CUT],
    ]);
    const seenBefore = obs.seen.status.length;
    const presenceBefore = obs.seen.presence.length;

    broker = await startMosquitto({ persistenceDir: persistence, port: broker.port });
    await online(obs, presenceBefore);
    const staged = await obs.waitFor('status', (s) => s.phase === 'staged', 'the status staged, once the broker is back', seenBefore);
    await obs.waitFor('event', (e) => e.type === 'staged' && e.updateId === downloading.updateId, 'the staged event, once the broker is back');
    expect(staged.updateId).toBe(downloading.updateId);
    expect(staged.deployments.staged?.commit).toBe(B);
    // The events of the update that happened while the broker was away arrive too, in order, once:
    // the ticks after the release worker leave an update waiting for its reboot alone.
    const types = obs.seen.event.filter((e) => e.updateId === downloading.updateId).map((e) => e.type);
    expect(types, summary(obs.seen)).toEqual(['downloading', 'staging', 'rebooting', 'staged']);
    expect(phases(obs.seen.status.slice(seenBefore)).at(-1)).toBe('staged');
    await relay.noWorker();
    expect(await rebootRequests(d)).toBe(1);
    expect(chain((await record(d)).update!.log)).toEqual(CHAINS.toReboot);
    expect(obs.invalid).toEqual([]);
    await obs.close();
  });

  it('SIGTERM mid-download: the relay waits for its worker, exits 0, and the next relay finishes the update', async () => {
    const d = await makeMqttDevice(f, { dir: join(tmp, 'device-term'), broker: broker.url, etc: { deviceId: 'gw-term', group: 'term' } });
    const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
    const part = `/repo/${staticDeltaPath(A, B)}/0`;
    const obs = await observe(broker.url, 'gw-term');
    let relay = await startRelay(d);
    await online(obs);
    const cutter = f.server.cutOnce(part, CUT);
    await announce(f, broker.url, releaseFile(f, '1.1'), 'term');
    await partialReaches(join(d.stateDir, 'download', B, '0'), CUT);
    const stopped = relay.stop();
    // The worker finishes the download it began (it resumes from the cut) and stops before arming.
    cutter.drop();
    expect((await stopped).code, relay.journal()).toBe(0);
    expect((await record(d)).state).toBe('arming');
    expect(await rebootRequests(d)).toBe(0);
    await obs.waitFor('presence', (p) => !p.online, 'offline, said by the relay itself');

    const from = obs.seen.status.length;
    relay = await startRelay(d);
    relays.push(relay);
    const staged = await obs.waitFor('status', (s) => s.phase === 'staged', 'staged after the restart', from);
    expect(staged.deployments.staged?.commit).toBe(B);
    await relay.noWorker();
    expect(await rebootRequests(d)).toBe(1);
    expect(chain((await record(d)).update!.log)).toEqual([...CHAINS.toReboot.slice(0, 3), 'arming:resume', ...CHAINS.toReboot.slice(3)]);
    expect(obs.invalid).toEqual([]);
    await obs.close();
  });

  it('telemetry, a local verb reported, then the last will: SIGKILLed, the device is marked offline', async () => {
    // In a group of its own (no retained release reaches it), with telemetry every 0.2 s.
    const d = await makeMqttDevice(f, { dir: join(tmp, 'device-will'), broker: broker.url, etc: { deviceId: 'gw-will', group: 'quiet' }, mqtt: { telemetryIntervalSeconds: 0.2 } });
    const obs = await observe(broker.url, 'gw-will');
    const relay = await startRelay(d);
    const up = await obs.waitFor('presence', (p) => p.online, 'online');
    // Telemetry documents of the contract's schema (the observer parses each), one after another.
    await obs.waitFor('telemetry', () => obs.seen.telemetry.length >= 2, 'two telemetry samples');
    expect(obs.seen.telemetry[1]!.memory.totalBytes).toBeGreaterThan(0);
    // A local verb while the relay runs: its state folder did not exist when the relay started (a
    // new device), and the relay still sees the verb change state.json and reports the new status.
    await obs.waitFor('inventory', () => true, 'the report after connecting');
    await relay.noWorker();
    const statuses = obs.seen.status.length;
    const verb = await otaAgent(d, 'rollback');
    expect(verb.code, verb.stderr).toBe(1);
    await obs.waitFor('status', (s) => s.lastError?.code === 'update-refused', "the verb's refusal in the status", statuses);
    expect(relay.journal()).not.toMatch(/cannot watch/);
    const from = obs.seen.presence.length;
    await relay.kill();
    const down = await obs.waitFor('presence', (p) => !p.online, 'offline by the last will', from);
    expect(down).toMatchObject({ device: 'gw-will', online: false, connectedAt: up.connectedAt });
    await obs.close();
  });

  it('a broker that never answers: the relay polls the group release over HTTP and applies it', async () => {
    const nowhere = `mqtt://127.0.0.1:${await freePort()}`;
    const d = await makeMqttDevice(f, { dir: join(tmp, 'device-poll'), broker: nowhere, etc: { deviceId: 'gw-poll' }, mqtt: { brokerAwaySeconds: 1, awayPollSeconds: 1 } });
    f.server.requests.length = 0;
    const relay = await startRelay(d);
    relays.push(relay);
    await until('the update waits for its reboot', async () => (await rebootRequests(d)) === 1 && (await record(d)).state === 'awaitingReboot');
    expect(f.server.requests.map((q) => q.path)).toContain(`/groups/${GROUP}/release.jws`);
    const r = await record(d);
    expect(r.state).toBe('awaitingReboot');
    expect(r.update?.toCommit).toBe(f.releases['1.1']!.commit);
  });
});
