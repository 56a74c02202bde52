import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrustedKeys, type TrustedKeys } from '../../../contract/index.js';
import type { UpdateTarget } from '../../../device-agent/engine/deps.js';
import { updateSteps, type DeviceUpdateContext } from '../../../device-agent/update/index.js';
import { Repo, type Sysroot } from '../../../node-ostree/index.js';
import { ota } from '../../helpers/cli.js';
import { ostree, removeTree } from '../../helpers/ostree-cli.js';
import { BOARD, device, OS, publisher, REF, serve, type Release, type StaticServer } from './harness.js';

// The update steps for each intent, as the engine calls them: releases made by `ota publish`,
// bundles by `ota bundle`, served over HTTP on 127.0.0.1, on a real sysroot in a temp dir.

let root: string;
let pub: string;
let srv: StaticServer;
let trusted: TrustedKeys;
const rel: Record<string, Release> = {};
const bundles: Record<string, string> = {};
let n = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-agent-steps-'));
  const p = await publisher(root);
  pub = p.pub;
  rel['1.0'] = await p.publish('1.0');
  rel['1.1'] = await p.publish('1.1');
  rel['1.2'] = await p.publish('1.2');
  trusted = await loadTrustedKeys(p.keyDir);
  for (const [name, version, from] of [['delta', '1.1', '1.0'], ['whole', '1.1', null], ['later', '1.2', '1.1']] as const) {
    bundles[name] = join(root, `${name}.otab`);
    const r = await ota('bundle', '--to', pub, '--version', version, ...(from === null ? [] : ['--from', from]), '-o', bundles[name]);
    if (r.code !== 0) throw new Error(`ota bundle ${name} failed: ${r.err}`);
  }
  srv = await serve(pub);
}, 180_000);

afterAll(async () => {
  await srv?.close();
  for (let i = 0; i < n; i++) await removeTree(join(root, `device-${i}`));
  if (root) await removeTree(root);
});

const jws = async (v: string): Promise<string> => (await readFile(join(pub, 'releases', REF, `${v}.jws`), 'utf8')).trim();

async function device10(): Promise<{ sysroot: Sysroot; ctx: DeviceUpdateContext }> {
  const dir = join(root, `device-${n++}`);
  const sysroot = await device(dir, pub, rel['1.0']!);
  return { sysroot, ctx: { sysroot, trusted, device: { board: BOARD, arch: 'amd64' }, remote: srv.url, group: 'lab', osname: OS, downloadDir: join(dir, 'download') } };
}

function target(intent: UpdateTarget['intent'], more: Partial<UpdateTarget> = {}): UpdateTarget {
  return { intent, releaseJws: null, bundlePath: null, belowFloor: false, floor: null, fromCommit: rel['1.0']!.commit, toCommit: null, ...more };
}

/** The device after an update to 1.1 it booted: 1.1 the default, 1.0 the rollback. */
async function on11(ctx: DeviceUpdateContext): Promise<UpdateTarget> {
  const steps = updateSteps(ctx);
  const t = target('upgrade', { releaseJws: await jws('1.1'), toCommit: rel['1.1']!.commit });
  await steps.download(t);
  await steps.deploy(t);
  return target('rollback', { fromCommit: rel['1.1']!.commit });
}

/** `ostree admin status`'s deployments, in boot order, as commit checksums. */
async function commits(s: Sysroot): Promise<string[]> {
  const out = await ostree(['admin', 'status', `--sysroot=${s.path}`]);
  return [...out.matchAll(/debian ([0-9a-f]{64})\.\d+/g)].map((m) => m[1]!);
}

describe('updateSteps by intent, on a real sysroot', () => {
  it('rollback: the deployment after the running one, made the default; nothing fetched', async () => {
    const { sysroot, ctx } = await device10();
    const steps = updateSteps(ctx);
    expect(await steps.preflight(target('rollback'))).toMatchObject({ verdict: 'refused', reason: expect.stringContaining('(no-rollback)') as unknown });
    const t = await on11(ctx);
    const before = srv.requests.length;
    const go = await steps.preflight(t);
    expect(go).toEqual({ verdict: 'go', target: { ref: REF, version: '1.0', commit: rel['1.0']!.commit, minVersion: null }, releaseJws: null });
    expect(await steps.preflight({ ...t, floor: '1.0' })).toMatchObject({ verdict: 'refused', reason: expect.stringMatching(/\(floor\).*1\.0.*--below-floor/) as unknown });
    expect(await steps.preflight({ ...t, floor: '1.0', belowFloor: true })).toMatchObject({ verdict: 'go' });
    const rb = { ...t, toCommit: rel['1.0']!.commit };
    await steps.download(rb);
    expect(srv.requests.length).toBe(before);
    expect(await steps.deploy(rb)).toEqual({ commit: rel['1.0']!.commit });
    expect(await commits(sysroot)).toEqual([rel['1.0']!.commit, rel['1.1']!.commit]);
    // Run again after a restart: already the default, nothing changes.
    expect(await steps.deploy(rb)).toEqual({ commit: rel['1.0']!.commit });
    expect(await commits(sysroot)).toEqual([rel['1.0']!.commit, rel['1.1']!.commit]);
  }, 60_000);

  it('deploy VERSION: a downgrade is allowed, an upgrade is not; never at or below the floor', async () => {
    const { ctx } = await device10();
    const steps = updateSteps(ctx);
    await on11(ctx);
    const down = { releaseJws: await jws('1.0'), fromCommit: rel['1.1']!.commit };
    expect(await steps.preflight(target('deploy', down))).toMatchObject({ verdict: 'go', target: { version: '1.0' } });
    expect(await steps.preflight(target('upgrade', down))).toMatchObject({ verdict: 'refused', reason: expect.stringContaining('(version)') as unknown });
    expect(await steps.preflight(target('deploy', { ...down, floor: '1.0' }))).toMatchObject({ verdict: 'refused', reason: expect.stringContaining('(floor)') as unknown });
    // A signed rollback command's belowFloor goes below the floor; an upgrade never does.
    expect(await steps.preflight(target('deploy', { ...down, floor: '1.0', belowFloor: true }))).toMatchObject({ verdict: 'go', target: { version: '1.0' } });
    expect(await steps.preflight(target('upgrade', { releaseJws: await jws('1.1'), floor: '1.1', belowFloor: true }))).toMatchObject({ verdict: 'refused', reason: expect.stringContaining('(floor)') as unknown });
  }, 60_000);

  it('install: the bundle must carry the release from the running commit; its commit lands under the ref', async () => {
    const { sysroot, ctx } = await device10();
    const steps = updateSteps(ctx);
    const t = target('install', { releaseJws: await jws('1.1'), bundlePath: bundles.delta! });
    const before = srv.requests.length;
    expect(await steps.preflight(t)).toMatchObject({ verdict: 'go', target: { version: '1.1', commit: rel['1.1']!.commit } });
    expect(await steps.preflight({ ...t, bundlePath: bundles.whole! })).toMatchObject({ verdict: 'go' });
    expect(await steps.preflight({ ...t, releaseJws: await jws('1.0') })).toMatchObject({ verdict: 'upToDate' });
    const installed = { ...t, toCommit: rel['1.1']!.commit };
    await steps.download(installed);
    expect(srv.requests.length).toBe(before);
    const repo = await Repo.open(join(sysroot.path, 'ostree/repo'));
    try {
      expect(repo.resolve(REF)).toBe(rel['1.1']!.commit);
    } finally {
      repo.close();
    }
    expect(await steps.deploy(installed)).toEqual({ commit: rel['1.1']!.commit });
    expect(await commits(sysroot)).toEqual([rel['1.1']!.commit, rel['1.0']!.commit]);
  }, 60_000);

  it('install: a bundle whose delta starts elsewhere, or of another release, is refused (reason bundle)', async () => {
    const { ctx } = await device10();
    const steps = updateSteps(ctx);
    const t = target('install', { releaseJws: await jws('1.2'), bundlePath: bundles.later! });
    expect(await steps.preflight(t)).toMatchObject({ verdict: 'refused', reason: expect.stringMatching(/\(bundle\).*updates from version 1\.1/) as unknown });
    expect(await steps.preflight({ ...t, bundlePath: bundles.delta! })).toMatchObject({ verdict: 'refused', reason: expect.stringMatching(/\(bundle\).*the release names/) as unknown });
    // A bundle that no longer opens (removed, or replaced by something else since `ota-agent install` opened it).
    const notABundle = join(root, `not-a-bundle-${n}.otab`);
    await writeFile(notABundle, 'not a tar archive\n');
    for (const bundlePath of [notABundle, join(root, 'gone.otab')]) {
      expect(await steps.preflight({ ...t, bundlePath }), bundlePath).toMatchObject({ verdict: 'refused', reason: expect.stringMatching(/^update refused \(bundle\): .*otab/) as unknown });
    }
  }, 60_000);

  it('a release accepted before it expired still downloads, installs and deploys after its expiry', async () => {
    const { sysroot, ctx } = await device10();
    const t = target('upgrade', { releaseJws: await jws('1.1') });
    expect(await updateSteps(ctx).preflight(t)).toMatchObject({ verdict: 'go' });
    // Years later (download only, outside the window): checking would refuse it now, applying must not.
    const later = updateSteps({ ...ctx, now: new Date(Date.now() + 10 * 365 * 86_400_000) });
    expect(await later.preflight(t)).toMatchObject({ verdict: 'refused', reason: expect.stringContaining('expired') as unknown });
    const accepted = { ...t, toCommit: rel['1.1']!.commit };
    await later.download(accepted);
    expect(await later.deploy(accepted)).toEqual({ commit: rel['1.1']!.commit });
    expect(await commits(sysroot)).toEqual([rel['1.1']!.commit, rel['1.0']!.commit]);
    const other = await device10();
    const installed = target('install', { releaseJws: await jws('1.1'), bundlePath: bundles.delta!, toCommit: rel['1.1']!.commit });
    const laterOther = updateSteps({ ...other.ctx, now: new Date(Date.now() + 10 * 365 * 86_400_000) });
    await laterOther.download(installed);
    expect(await laterOther.deploy(installed)).toEqual({ commit: rel['1.1']!.commit });
  }, 60_000);

  it('cleanDownloads removes the leftovers of every commit but the one kept, and nothing else', async () => {
    const { ctx } = await device10();
    const steps = updateSteps(ctx);
    await steps.cleanDownloads(null); // no download directory yet: nothing to do
    for (const c of ['a', 'b', 'c']) {
      await mkdir(join(ctx.downloadDir, c.repeat(64)), { recursive: true });
      await writeFile(join(ctx.downloadDir, c.repeat(64), '0'), 'partial');
    }
    await writeFile(join(ctx.downloadDir, 'notes.txt'), 'not ours');
    await steps.cleanDownloads('b'.repeat(64));
    expect((await readdir(ctx.downloadDir)).sort()).toEqual(['b'.repeat(64), 'notes.txt']);
    await steps.cleanDownloads(null);
    expect(await readdir(ctx.downloadDir)).toEqual(['notes.txt']);
  }, 60_000);
});
