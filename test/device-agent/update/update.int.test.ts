import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { generateSigningKey, loadTrustedKeys, type TrustedKeys } from '../../../contract/index.js';
import { deployUpdate, download, preflight, prune, updateSteps, type PreflightOptions } from '../../../device-agent/update/index.js';
import type { UpdateTarget } from '../../../device-agent/engine/deps.js';
import { ed25519PrivateKey, generateDelta, Repo, signCommitEd25519, staticDeltaPath, type Sysroot } from '../../../node-ostree/index.js';
import { ostree, removeTree } from '../../helpers/ostree-cli.js';
import { BOARD, device, hashTree, OS, partialReaches, publisher, REF, serve, type Release, type StaticServer } from './harness.js';

// The update effects against real parts: releases made by `ota publish`, served over HTTP on
// 127.0.0.1, applied to a real sysroot in a temp dir; `ostree admin status` reads the result.

let root: string;
let pub: string;
let srv: StaticServer;
let trusted: TrustedKeys;
const rel: Record<string, Release> = {};
let n = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-agent-update-'));
  const p = await publisher(root);
  pub = p.pub;
  rel['1.0'] = await p.publish('1.0');
  rel['1.1'] = await p.publish('1.1');
  // 1.2 has a delta from 1.1 only: a device on 1.0 pulls it by checksum.
  rel['1.2'] = await p.publish('1.2', '--delta-from', '1.1');
  trusted = await loadTrustedKeys(p.keyDir);
  srv = await serve(pub);
}, 120_000);

afterAll(async () => {
  await srv?.close();
  for (let i = 0; i < n; i++) await removeTree(join(root, `device-${i}`));
  if (root) await removeTree(root);
});

const jws = (v: string): Promise<string> => readFile(join(pub, 'releases', REF, `${v}.jws`), 'utf8');
const device10 = async (): Promise<{ sysroot: Sysroot; downloadDir: string }> => {
  const dir = join(root, `device-${n++}`);
  return { sysroot: await device(dir, pub, rel['1.0']!), downloadDir: join(dir, 'download') };
};
const identity = { board: BOARD, arch: 'amd64' };

async function update(sysroot: Sysroot, downloadDir: string, version: string, options: PreflightOptions = {}) {
  const plan = await preflight({ jws: await jws(version), trusted, sysroot, device: identity, downloadDir, options });
  const got = await download({ plan, remote: srv.url, sysroot, trusted, downloadDir, options: { retries: 0 } });
  return { plan, got };
}

async function statusText(sysroot: Sysroot): Promise<string> {
  return ostree(['admin', 'status', `--sysroot=${sysroot.path}`]);
}

async function refused(p: Promise<unknown>): Promise<OtaError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(OtaError);
  return e as OtaError;
}

describe('applying an update', () => {
  it('a full update fetches only the delta and lands the release commit in a new deployment', async () => {
    const { sysroot, downloadDir } = await device10();
    srv.requests.length = 0;
    const events: string[] = [];
    const plan = await preflight({ jws: await jws('1.1'), trusted, sysroot, device: identity, downloadDir });
    expect(plan.source).toEqual({ kind: 'delta', fromCommit: rel['1.0']!.commit, bytes: plan.release.deltas[0]!.bytes });
    const got = await download({ plan, remote: srv.url, sysroot, trusted, downloadDir, options: { onEvent: (e) => events.push(e.phase) } });
    expect(got).toMatchObject({ commit: rel['1.1']!.commit, via: 'delta', resumedBytes: 0 });
    // Exactly the delta: its superblock and parts, never an object on its own (docs/releases.md, "Deltas").
    const delta = `/repo/${staticDeltaPath(rel['1.0']!.commit, rel['1.1']!.commit)}/`;
    expect(srv.requests.every((r) => r.path.startsWith(delta))).toBe(true);
    expect(srv.requests.reduce((s, r) => s + r.sent, 0)).toBe(plan.source.bytes);
    expect(events).toContain('fetch');
    expect(existsSync(join(downloadDir, rel['1.1']!.commit))).toBe(false);

    const grub = { configPath: join(root, `grub-${n}.cfg`), options: { env: { label: 'ESP', path: '/EFI/ota/grubenv' }, boot: { path: '/boot' } } };
    const d = await deployUpdate({ sysroot, osname: OS, commit: got.commit, refspec: REF, grub });
    expect(d).toMatchObject({ index: 0, checksum: rel['1.1']!.commit, staged: false });
    expect(sysroot.deployments().map((x) => x.checksum)).toEqual([rel['1.1']!.commit, rel['1.0']!.commit]);
    expect((await statusText(sysroot)).split('\n').find((l) => l.includes(OS))).toContain(rel['1.1']!.commit);
    expect(await readFile(join(sysroot.path, d.path.replace(/^\/?/, ''), 'usr/lib/os-release'), 'utf8')).toContain('VERSION_ID=1.1');
    expect(d.origin).toContain(`refspec=${REF}`);
    expect((await readFile(grub.configPath, 'utf8')).match(/^menuentry /gm)).toHaveLength(2);

    // The next release by delta from 1.1; then prune keeps the running deployment and one rollback.
    const next = await update(sysroot, downloadDir, '1.2');
    expect(next.plan.source.kind).toBe('delta');
    await deployUpdate({ sysroot, osname: OS, commit: next.got.commit, refspec: REF, grub });
    expect((await readFile(grub.configPath, 'utf8')).match(/^menuentry /gm)).toHaveLength(3);
    const removed = await prune(sysroot, { grub });
    expect(removed.map((x) => x.checksum)).toEqual([rel['1.0']!.commit]);
    expect(sysroot.deployments().map((x) => x.checksum)).toEqual([rel['1.2']!.commit, rel['1.1']!.commit]);
    expect(await statusText(sysroot)).not.toContain(rel['1.0']!.commit);
    expect((await readFile(grub.configPath, 'utf8')).match(/^menuentry /gm)).toHaveLength(2);
  }, 120_000);

  it('without a delta from the running commit, the commit is pulled by its checksum', async () => {
    const { sysroot, downloadDir } = await device10();
    srv.requests.length = 0;
    const { plan, got } = await update(sysroot, downloadDir, '1.2');
    expect(plan.source).toEqual({ kind: 'pull', bytes: plan.release.fullPullBytes });
    expect(got.via).toBe('pull');
    expect(srv.requests.some((r) => r.path.startsWith('/repo/objects/'))).toBe(true);
    expect(srv.requests.some((r) => r.path.startsWith('/repo/deltas/'))).toBe(false);
    const d = await deployUpdate({ sysroot, osname: OS, commit: got.commit, refspec: REF });
    expect(d.checksum).toBe(rel['1.2']!.commit);
  }, 60_000);

  it('a download cut mid-way resumes from the partial file with a Range request', async () => {
    const { sysroot, downloadDir } = await device10();
    const plan = await preflight({ jws: await jws('1.1'), trusted, sysroot, device: identity, downloadDir });
    const partPath = `/repo/${staticDeltaPath(rel['1.0']!.commit, rel['1.1']!.commit)}/0`;
    const cutter = srv.cutOnce(partPath, 50_000);
    srv.requests.length = 0;
    const pending = refused(download({ plan, remote: srv.url, sysroot, trusted, downloadDir, options: { retries: 0 } }));
    await partialReaches(join(downloadDir, rel['1.1']!.commit, '0'), 50_000);
    cutter.drop();
    const cut = await pending;
    expect(cut.code).toBe('ERR_OTA_FETCH');
    expect(sysroot.deployments()).toHaveLength(1);
    const first = srv.requests.filter((r) => r.path === partPath);
    expect(first).toMatchObject([{ range: undefined, sent: 50_000 }]);

    srv.requests.length = 0;
    const got = await download({ plan, remote: srv.url, sysroot, trusted, downloadDir, options: { retries: 0 } });
    expect(got.resumedBytes).toBe(50_000);
    const second = srv.requests.filter((r) => r.path === partPath);
    expect(second).toHaveLength(1);
    expect(second[0]!.range).toBe(`bytes=${got.resumedBytes}-`);
    const partBytes = (await readFile(join(pub, partPath))).length;
    expect(second[0]!.sent).toBe(partBytes - got.resumedBytes);
    const d = await deployUpdate({ sysroot, osname: OS, commit: got.commit, refspec: REF });
    expect(d.checksum).toBe(rel['1.1']!.commit);
  }, 60_000);
});

describe('refusals change nothing', () => {
  async function expectRefusedBeforeDownload(reason: string, version: string, opts: { board?: string; options?: PreflightOptions } = {}): Promise<OtaError> {
    const { sysroot, downloadDir } = await device10();
    const before = await hashTree(sysroot.path);
    srv.requests.length = 0;
    const e = await refused(preflight({ jws: await jws(version), trusted, sysroot, device: { ...identity, board: opts.board ?? BOARD }, downloadDir, options: opts.options ?? {} }));
    expect(e.code).toBe('ERR_OTA_REFUSED');
    expect(e.details).toEqual([`reason: ${reason}`]);
    expect(srv.requests).toEqual([]);
    expect(existsSync(downloadDir)).toBe(false);
    expect(await hashTree(sysroot.path)).toEqual(before);
    return e;
  }

  it('a release for another board', async () => {
    const e = await expectRefusedBeforeDownload('board', '1.1', { board: 'rpi4' });
    expect(e.message).toMatch(/is for board fxboard, this device is rpi4/);
  }, 60_000);

  it('a release at or below the floor, even when a downgrade is asked for', async () => {
    const e = await expectRefusedBeforeDownload('floor', '1.1', { options: { floor: '1.1', allowDowngrade: true } });
    expect(e.message).toMatch(/at or below the anti-rollback floor 1\.1/);
  }, 60_000);

  it('a disk that cannot hold the update and the reserve', async () => {
    const s = await statfs(root);
    const e = await expectRefusedBeforeDownload('disk', '1.1', { options: { reserveBytes: 2 * s.bavail * s.bsize } });
    expect(e.message).toMatch(/needs \d+ bytes free/);
  }, 60_000);

  it('the release running already', async () => {
    await expectRefusedBeforeDownload('current', '1.0');
  }, 60_000);

  it('a manifest signed by a key the device does not trust', async () => {
    const { sysroot, downloadDir } = await device10();
    const stranger = await loadTrustedKeys({ keys: [(await generateSigningKey()).publicJwk] });
    srv.requests.length = 0;
    const e = await refused(preflight({ jws: await jws('1.1'), trusted: stranger, sysroot, device: identity, downloadDir }));
    expect(e.code).toBe('ERR_OTA_JWS_KID');
    expect(srv.requests).toEqual([]);
  }, 60_000);
});

describe('damaged downloads are refused', () => {
  it('a tampered delta part: nothing is applied or deployed', async () => {
    const { sysroot, downloadDir } = await device10();
    const file = join(pub, 'repo', staticDeltaPath(rel['1.0']!.commit, rel['1.1']!.commit), '0');
    const good = await readFile(file);
    const bad = Buffer.from(good);
    const mid = bad.length >> 1;
    bad[mid] = bad[mid]! ^ 0xff;
    await writeFile(file, bad);
    try {
      const plan = await preflight({ jws: await jws('1.1'), trusted, sysroot, device: identity, downloadDir });
      const e = await refused(download({ plan, remote: srv.url, sysroot, trusted, downloadDir, options: { retries: 0 } }));
      expect(e.code).toBe('ERR_OTA_HASH');
    } finally {
      await writeFile(file, good);
    }
    const repo = await Repo.open(join(sysroot.path, 'ostree/repo'));
    try {
      expect(repo.hasObject('commit', rel['1.1']!.commit)).toBe(false);
      expect(repo.resolve(REF)).toBe(rel['1.0']!.commit);
    } finally {
      repo.close();
    }
    expect(sysroot.deployments().map((d) => d.checksum)).toEqual([rel['1.0']!.commit]);
  }, 60_000);

  it('a commit whose signature is not by a trusted key is not given a ref or deployed', async () => {
    const { sysroot, downloadDir } = await device10();
    const published = await Repo.open(join(pub, 'repo'));
    const commit = rel['1.2']!.commit;
    const original = published.readDetachedMetadata(commit);
    try {
      published.writeDetachedMetadata(commit, undefined);
      await signCommitEd25519(published, commit, ed25519PrivateKey(generateKeyPairSync('ed25519').privateKey));
      const plan = await preflight({ jws: await jws('1.2'), trusted, sysroot, device: identity, downloadDir });
      expect(plan.source.kind).toBe('pull');
      const e = await refused(download({ plan, remote: srv.url, sysroot, trusted, downloadDir, options: { retries: 0 } }));
      expect(e.code).toBe('ERR_OTA_SIGNATURE');
    } finally {
      published.writeDetachedMetadata(commit, original);
      published.close();
    }
    const repo = await Repo.open(join(sysroot.path, 'ostree/repo'));
    try {
      expect(repo.resolve(REF)).toBe(rel['1.0']!.commit);
    } finally {
      repo.close();
    }
    expect(sysroot.deployments().map((d) => d.checksum)).toEqual([rel['1.0']!.commit]);
  }, 60_000);

  it('by delta too: the signature the superblock carries must be by a trusted key', async () => {
    const { sysroot, downloadDir } = await device10();
    const published = await Repo.open(join(pub, 'repo'));
    const commit = rel['1.1']!.commit;
    const deltaDir = join(pub, 'repo', staticDeltaPath(rel['1.0']!.commit, commit));
    const backup = join(root, 'delta-backup');
    const original = published.readDetachedMetadata(commit);
    await cp(deltaDir, backup, { recursive: true });
    try {
      // The same delta generated again after the commit's signature was swapped for a stranger's.
      published.writeDetachedMetadata(commit, undefined);
      await signCommitEd25519(published, commit, ed25519PrivateKey(generateKeyPairSync('ed25519').privateKey));
      await rm(deltaDir, { recursive: true });
      await generateDelta(published, { from: rel['1.0']!.commit, to: commit, minFallbackSizeBytes: 0 });
      const plan = await preflight({ jws: await jws('1.1'), trusted, sysroot, device: identity, downloadDir });
      expect(plan.source.kind).toBe('delta');
      const e = await refused(download({ plan, remote: srv.url, sysroot, trusted, downloadDir, options: { retries: 0 } }));
      expect(e.code).toBe('ERR_OTA_SIGNATURE');
    } finally {
      published.writeDetachedMetadata(commit, original);
      published.close();
      await rm(deltaDir, { recursive: true, force: true });
      await cp(backup, deltaDir, { recursive: true });
    }
    const repo = await Repo.open(join(sysroot.path, 'ostree/repo'));
    try {
      expect(repo.resolve(REF)).toBe(rel['1.0']!.commit);
    } finally {
      repo.close();
    }
    expect(sysroot.deployments().map((d) => d.checksum)).toEqual([rel['1.0']!.commit]);
  }, 60_000);
});

describe('as the engine calls them (updateSteps)', () => {
  const upgrade = (releaseJws: string | null, fromCommit: string | null = null): UpdateTarget => ({ intent: 'upgrade', releaseJws, bundlePath: null, belowFloor: false, floor: null, fromCommit, toCommit: null });

  it('fetch the group release, preflight, download, deploy once, prune; refusals as verdicts', async () => {
    const { sysroot, downloadDir } = await device10();
    const ctx = { sysroot, trusted, device: identity, remote: srv.url, group: 'lab', osname: OS, downloadDir };
    const steps = updateSteps(ctx);
    const jws12 = await steps.fetchRelease();
    expect(jws12).toBe((await jws('1.2')).trim());
    expect(await steps.fetchVersion(REF, '1.1')).toBe((await jws('1.1')).trim());
    await expect(steps.fetchVersion(REF, '9.9')).rejects.toMatchObject({ code: 'ERR_OTA_NOT_FOUND', message: `no release 9.9 of ${REF} at ${srv.url}` });
    expect(await steps.preflight(upgrade(jws12))).toEqual({ verdict: 'go', target: { ref: REF, version: '1.2', commit: rel['1.2']!.commit, minVersion: null }, releaseJws: jws12 });
    expect(await updateSteps({ ...ctx, device: { ...identity, arch: 'arm64' } }).preflight(upgrade(jws12))).toEqual({ verdict: 'refused', reason: expect.stringMatching(/\(arch\).*is for amd64, this device is arm64/) as unknown });
    expect(await steps.preflight(upgrade(await jws('1.0')))).toMatchObject({ verdict: 'upToDate', target: { version: '1.0' } });
    expect(await steps.preflight({ ...upgrade(jws12), floor: '1.2' })).toMatchObject({ verdict: 'refused', reason: expect.stringContaining('(floor)') as unknown });
    const s = await statfs(sysroot.path);
    expect(await updateSteps({ ...ctx, reserveBytes: 2 * s.bavail * s.bsize }).preflight(upgrade(jws12))).toMatchObject({ verdict: 'refused', reason: expect.stringContaining('(disk)') as unknown });

    await steps.download(upgrade(jws12));
    expect(await steps.deploy(upgrade(jws12))).toEqual({ commit: rel['1.2']!.commit });
    // Run again, as after a restart between the deploy and the record's save: no second deployment.
    expect(await steps.deploy(upgrade(jws12))).toEqual({ commit: rel['1.2']!.commit });
    expect(sysroot.deployments().map((d) => d.checksum)).toEqual([rel['1.2']!.commit, rel['1.0']!.commit]);
    await steps.prune();
    expect(sysroot.deployments().map((d) => d.checksum)).toEqual([rel['1.2']!.commit, rel['1.0']!.commit]);
    expect(await steps.preflight(upgrade(jws12))).toMatchObject({ verdict: 'upToDate' });
    // The engine's view of what runs wins over the sysroot's default: a device still on 1.0 would take 1.2.
    expect(await steps.preflight(upgrade(jws12, rel['1.0']!.commit))).toMatchObject({ verdict: 'go' });
  }, 60_000);
});
