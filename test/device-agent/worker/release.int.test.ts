import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, loadTrustedKeys, readSigned, signDocument, type ReleaseManifest } from '../../../contract/index.js';
import { staticDeltaPath } from '../../../node-ostree/index.js';
import { hashTree, partialReaches, REF } from '../update/harness.js';
import { fleet, makeDevice, removeDevices, type Fleet } from '../agent/device.js';
import { adminStatus, bootedCommit, record, rebootRequests } from '../agent/run-agent.js';
import { standInBoot } from '../agent/stand-in-boot.js';
import { events, parseLines, phases, releaseKey, signCommand, signRaw, startWorker, worker, type WorkerRun } from './run-worker.js';

// `ota-agent worker release|tick|report` as the real process on a harness device, fed the group's
// release on stdin as the relay feeds it (docs/agent.md, "The worker protocol"). The reboot and the
// boot are the harness's stand-ins (process boundary).

let tmp: string;
let f: Fleet;
let n = 0;
const commit = (v: string) => f.releases[v]!.commit;
const jwsOf = async (v: string) => (await readFile(join(f.publisher.pub, 'releases', REF, `${v}.jws`), 'utf8')).trim();
const device = (more: Partial<Parameters<typeof makeDevice>[1]> = {}) => makeDevice(f, { dir: join(tmp, `device-${n++}`), ...more });

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-worker-release-'));
  f = await fleet(tmp, ['1.0', '1.1']);
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

/** Consecutive duplicates removed (progress lines repeat the phase). */
const distinct = (xs: string[]) => xs.filter((x, i) => i === 0 || xs[i - 1] !== x);
const last = (r: WorkerRun) => r.lines.at(-1);
/** Bytes of the delta part sent before the test's cut. */
const CUT = 20_000;

describe('worker release, tick and report', () => {
  it('a valid release is applied from the JWS given (no fetch of the group release): phases, events, then commit and inventory', async () => {
    const d = await device();
    f.server.requests.length = 0;
    const r = await worker(d, 'release', `${await jwsOf('1.1')}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(distinct(phases(r))).toEqual(['idle', 'checking', 'downloading', 'staging', 'rebooting', 'staged']);
    const id = (await record(d)).update!.id;
    // The release's version, as the contract's status document says (docs/contract.md, "Status").
    expect(id).toBe('1.1');
    expect(events(r).map((e) => [e.type, e.updateId, e.untrusted])).toEqual(['downloading', 'staging', 'rebooting', 'staged'].map((type) => [type, id, false]));
    expect(events(r)[0]!.reason).toContain('1.1');
    // The first fetch always makes a progress line (later ones at most once a second).
    const progress = r.lines.flatMap((l) => (l.type === 'status' && l.doc.progress !== null ? [l.doc.progress] : []));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]!.doneBytes).toBeGreaterThan(0);
    expect(progress[0]!.doneBytes).toBeLessThanOrEqual(progress[0]!.totalBytes!);
    expect(last(r)).toEqual({ type: 'done', nextWakeMs: null, polled: false });
    expect(f.server.requests.map((q) => q.path)).not.toContain('/groups/lab/release.jws');
    expect((await record(d)).state).toBe('awaitingReboot');
    expect(await rebootRequests(d)).toBe(1);

    await standInBoot(d);
    // The relay's first tick after the boot (a later one leaves an update waiting for its reboot alone).
    const t = await worker(d, 'tick', '', '--after-start');
    expect(t.code, t.stderr).toBe(0);
    expect(events(t).map((e) => e.type)).toEqual(['verifying', 'committed']);
    expect(distinct(phases(t))).toEqual(['staged', 'verifying', 'committed', 'idle']);
    const inv = t.lines.filter((l) => l.type === 'inventory');
    expect(inv).toHaveLength(1);
    expect(inv[0]).toMatchObject({ doc: { kind: 'Inventory', device: 'gw-0001', commit: commit('1.1'), packages: [{ name: 'fx', version: '1.1', arch: 'amd64' }] } });
    // pollIntervalSeconds is 0 in the harness: nothing is due until something happens.
    expect(last(t)).toEqual({ type: 'done', nextWakeMs: null, polled: false });
    expect(await bootedCommit(d)).toBe(commit('1.1'));

    // Nothing changed: no inventory line; the same release again (a reconnect's re-delivery): no event at all.
    const again = await worker(d, 'tick');
    expect(again.lines.filter((l) => l.type !== 'status')).toEqual([{ type: 'done', nextWakeMs: null, polled: false }]);
    const redelivered = await worker(d, 'release', await jwsOf('1.1'));
    expect(redelivered.lines).toEqual([{ type: 'done', nextWakeMs: null, polled: false }]);

    // report: status and inventory, whether they changed or not; tick --poll checks the group's release now.
    const rep = await worker(d, 'report');
    expect(rep.lines.map((l) => l.type)).toEqual(['status', 'inventory', 'done']);
    const polled = await worker(d, 'tick', '', '--poll');
    expect(last(polled)).toEqual({ type: 'done', nextWakeMs: null, polled: true });
    expect(f.server.requests.map((q) => q.path)).toContain('/groups/lab/release.jws');
  }, 90_000);

  it('bad releases are one refused event each (untrusted when they do not verify) and change nothing', async () => {
    const d = await device();
    const other = await device({ board: 'otherboard' });
    const good = await jwsOf('1.1');
    const key = await releaseKey(f);
    const { doc } = await readSigned('release', good, await loadTrustedKeys(join(f.publisher.keyDir, 'release.pub.jwks')));
    const manifest: ReleaseManifest = doc;
    const [h, p, s] = good.split('.');
    const changed = `${h}.${p}.${s![0] === 'A' ? 'B' : 'A'}${s!.slice(1)}`;
    const cases: [string | Buffer, string][] = [
      [await signDocument('release', manifest, await generateSigningKey()), 'kid: '],
      [changed, 'signature: '],
      [await signDocument('release', manifest, key, { now: new Date(Date.now() - 7200_000), expiresInSeconds: 60 }), 'expired: '],
      [await signCommand(key, { type: 'report' }), 'typ: '],
      [Buffer.from([0x65, 0xff, 0xfe, 0x2e]), 'malformed: '],
      ['not a jws', 'malformed: '],
      [await signRaw(key, 'release', { ...manifest, unknownKey: 1 }), 'schema: '],
    ];
    const before = [await hashTree(d.dir), await adminStatus(d)];
    for (const [input, reason] of cases) {
      const r = await worker(d, 'release', input);
      expect(r.code, r.stderr).toBe(0);
      expect(events(r), reason).toEqual([{ type: 'refused', updateId: null, untrusted: true, reason: expect.stringMatching(new RegExp(`^${reason}`)) as unknown }]);
      expect(last(r)).toEqual({ type: 'done', nextWakeMs: null, polled: false });
      // Journaled by the relay through its bad-input limit, not by each worker.
      expect(r.stderr).toBe('');
    }
    expect([await hashTree(d.dir), await adminStatus(d)]).toEqual(before);

    // A well-signed release for another board: refused by preflight, not untrusted, nothing changed.
    const otherBefore = [await hashTree(other.dir), await adminStatus(other)];
    const r = await worker(other, 'release', good);
    expect(events(r)).toEqual([{ type: 'refused', updateId: null, untrusted: false, reason: expect.stringContaining('(board)') as unknown }]);
    expect([await hashTree(other.dir), await adminStatus(other)]).toEqual(otherBefore);
    expect((await record(other)).lastResult).toBeNull();

    const unknown = await worker(d, 'dance');
    expect(unknown.code).toBe(2);
    expect(unknown.lines).toEqual([]);
    expect(unknown.stderr).toContain('unknown job "dance"');
  }, 90_000);

  it('SIGTERM stops a tick where a restart continues: the download finishes, the next state is left to the next tick', async () => {
    const d = await device();
    const [A, B] = [commit('1.0'), commit('1.1')];
    const part = `/repo/${staticDeltaPath(A, B)}/0`;
    const cutter = f.server.cutOnce(part, CUT);
    const w = await startWorker(d, 'tick', '--poll');
    await partialReaches(join(d.stateDir, 'download', B, '0'), CUT);
    w.kill('SIGTERM');
    cutter.drop();
    const ended = await w.exited;
    expect(ended.code, ended.stderr).toBe(0);
    const lines = parseLines(ended.stdout);
    expect(lines.at(-1)).toEqual({ type: 'done', nextWakeMs: expect.any(Number) as unknown, polled: true });
    expect(events({ code: 0, lines, stderr: '' }).map((e) => e.type)).toEqual(['downloading', 'staging']);
    // The download (rerun-safe) finished within its retries; arming, also rerun-safe, waits for the next start.
    expect((await record(d)).state).toBe('arming');
    expect(await rebootRequests(d)).toBe(0);

    const t = await worker(d, 'tick');
    expect(t.code, t.stderr).toBe(0);
    expect(events(t).map((e) => e.type)).toEqual(['rebooting', 'staged']);
    expect((await record(d)).state).toBe('awaitingReboot');
    expect(await rebootRequests(d)).toBe(1);
  }, 90_000);
});
