import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rolloutBucket, signDocument, type Rollout, type SigningKey } from '../../../contract/index.js';
import { jwsSha256 } from '../../../device-agent/worker/rollout-gate.js';
import { REF } from '../update/harness.js';
import { fleet, GROUP, makeDevice, removeDevices, type Fleet } from '../agent/device.js';
import { otaAgent, record, rebootRequests } from '../agent/run-agent.js';
import { events, phases, releaseKey, worker } from './run-worker.js';

// `ota-agent worker rollout|release|tick` as the real process on a harness device: the group's rollout gates
// the group's release (docs/agent.md, "Rollouts"). The reboot is the harness's stand-in (process boundary).

let tmp: string;
let f: Fleet;
let key: SigningKey;
const ID = 'r-worker-test';
const DEVICE = 'gw-0001';
const BUCKET = rolloutBucket(ID, DEVICE);

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-worker-rollout-'));
  f = await fleet(tmp, ['1.0', '1.1']);
  key = await releaseKey(f);
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

const jwsOf = async (v: string) => (await readFile(join(f.publisher.pub, 'releases', REF, `${v}.jws`), 'utf8')).trim();

async function rollout(o: { basisPoints: number; state?: Rollout['state']; secondsAgo: number }): Promise<string> {
  const release = await jwsOf('1.1');
  const doc: Rollout = {
    apiVersion: 'deb-ota/v1',
    kind: 'Rollout',
    id: ID,
    group: GROUP,
    release: { version: '1.1', commit: f.releases['1.1']!.commit, sha256: jwsSha256(release) },
    wave: { index: 0, basisPoints: o.basisPoints },
    state: o.state ?? 'running',
    reason: o.state === 'paused' ? 'by the test' : null,
  };
  return signDocument('rollout', doc, key, { now: new Date(Date.now() - o.secondsAgo * 1000) });
}

describe('worker rollout: the group rollout gates the release', () => {
  it('holds the release outside the wave, while paused, against a replayed wave and a poll; starts it once the wave holds the device', async () => {
    const d = await makeDevice(f, { dir: join(tmp, 'device') });
    const release = await jwsOf('1.1');
    const waiting = (r: Awaited<ReturnType<typeof worker>>) => events(r).filter((e) => e.type === 'rollout-waiting');

    // A wave whose share ends exactly at this device's bucket does not hold it.
    const out = await worker(d, 'rollout', `${await rollout({ basisPoints: BUCKET, secondsAgo: 100 })}\n${release}`);
    expect(out.code, out.stderr).toBe(0);
    expect(waiting(out)).toEqual([expect.objectContaining({ updateId: '1.1', reason: expect.stringContaining(`this device's is ${BUCKET}`) })]);
    expect(phases(out)).not.toContain('downloading');
    expect(JSON.parse(await readFile(join(d.stateDir, 'rollouts.json'), 'utf8')).groups[GROUP].jws).toBeTruthy();

    // The release heard alone, and a poll over HTTP, go through the same gate.
    const heard = await worker(d, 'release', release);
    expect(waiting(heard)).toHaveLength(1);
    const polled = await worker(d, 'tick', '', '--poll');
    expect(polled.code, polled.stderr).toBe(0);
    expect(waiting(polled)).toHaveLength(1);

    // Paused: the whole group in the wave, still nothing starts.
    const paused = await worker(d, 'rollout', `${await rollout({ basisPoints: 10_000, state: 'paused', secondsAgo: 80 })}\n${release}`);
    expect(waiting(paused)).toEqual([expect.objectContaining({ reason: expect.stringContaining('is paused (by the test)') })]);

    // A replay of an older, wider wave is refused as untrusted input and changes nothing.
    const replay = await worker(d, 'rollout', `${await rollout({ basisPoints: 10_000, secondsAgo: 90 })}\n${release}`);
    expect(events(replay)[0]).toMatchObject({ type: 'refused', untrusted: true, reason: expect.stringMatching(/^replayed/) });
    expect(waiting(replay)[0]!.reason).toContain('paused');
    expect((await record(d)).state).toBe('idle');
    expect(await rebootRequests(d)).toBe(0);

    // Resumed with a wave that holds the device: the release starts, to the stand-in reboot.
    const go = await worker(d, 'rollout', `${await rollout({ basisPoints: BUCKET + 1, secondsAgo: 70 })}\n${release}`);
    expect(go.code, go.stderr).toBe(0);
    expect(waiting(go)).toEqual([]);
    expect(phases(go)).toContain('rebooting');
    expect((await record(d)).update!.id).toBe('1.1');
    expect(await rebootRequests(d)).toBe(1);
  });

  it('a release the wave gives the device but its preflight refuses is recorded, so the controller counts it failed', async () => {
    const d = await makeDevice(f, { dir: join(tmp, 'device-other-board'), board: 'another-board' });
    const r = await worker(d, 'rollout', `${await rollout({ basisPoints: 10_000, secondsAgo: 60 })}\n${await jwsOf('1.1')}`);
    expect(r.code, r.stderr).toBe(0);
    expect(events(r).filter((e) => e.type === 'refused')).toEqual([expect.objectContaining({ updateId: '1.1', untrusted: false, reason: expect.stringContaining('board') })]);
    const status = r.lines.flatMap((l) => (l.type === 'status' ? [l.doc] : [])).at(-1)!;
    // What `ota fleet rollout` counts as this version's failure (its outcome(), unit-tested in test/host-tools/fleet/).
    expect(status.lastError).toMatchObject({ code: 'update-refused', message: expect.stringMatching(/^update 1\.1: update refused \(board\)/) });
    expect((await record(d)).state).toBe('idle');
  });

  it('a poll over HTTP reads the rollout published beside the release: outside the wave nothing starts, inside it the update does', async () => {
    // A device that never heard the rollout over MQTT (its broker away since before the rollout began).
    const d = await makeDevice(f, { dir: join(tmp, 'device-http') });
    const twin = join(f.publisher.pub, 'groups', GROUP, 'rollout.jws');
    const waiting = (r: Awaited<ReturnType<typeof worker>>) => events(r).filter((e) => e.type === 'rollout-waiting');
    try {
      await writeFile(twin, `${await rollout({ basisPoints: BUCKET, secondsAgo: 50 })}\n`);
      const out = await worker(d, 'tick', '', '--poll');
      expect(out.code, out.stderr).toBe(0);
      expect(waiting(out)).toEqual([expect.objectContaining({ updateId: '1.1', reason: expect.stringContaining(`this device's is ${BUCKET}`) })]);
      expect(phases(out)).not.toContain('downloading');
      expect((await record(d)).state).toBe('idle');

      // The wave widened (the controller rewrote the file): the next poll starts the update.
      await writeFile(twin, `${await rollout({ basisPoints: BUCKET + 1, secondsAgo: 40 })}\n`);
      const go = await worker(d, 'tick', '', '--poll');
      expect(go.code, go.stderr).toBe(0);
      expect(waiting(go)).toEqual([]);
      expect(phases(go)).toContain('rebooting');
      expect(await rebootRequests(d)).toBe(1);
    } finally {
      await rm(twin, { force: true });
    }
  });

  it('`daemon --once` from a timer keeps to the rollout published over HTTP as a tick does', async () => {
    const d = await makeDevice(f, { dir: join(tmp, 'device-once'), etc: { pollIntervalSeconds: 3600 } });
    const twin = join(f.publisher.pub, 'groups', GROUP, 'rollout.jws');
    try {
      await writeFile(twin, `${await rollout({ basisPoints: BUCKET, secondsAgo: 30 })}\n`);
      const held = await otaAgent(d, 'daemon', '--once');
      expect(held.code, held.stderr).toBe(0);
      expect(held.stderr).toContain('release 1.1: waiting, ');
      expect((await record(d)).state).toBe('idle');
      expect(await rebootRequests(d)).toBe(0);

      await writeFile(twin, `${await rollout({ basisPoints: BUCKET + 1, secondsAgo: 20 })}\n`);
      const go = await otaAgent(d, 'daemon', '--once');
      expect(go.code, go.stderr).toBe(0);
      expect((await record(d)).state).toBe('awaitingReboot');
      expect(await rebootRequests(d)).toBe(1);
    } finally {
      await rm(twin, { force: true });
    }
  });
});
