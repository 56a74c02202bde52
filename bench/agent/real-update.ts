/**
 * The one-package update the announce-to-staged figure is measured on: the reference arm64
 * minbase image (bench/delta/images.ts: built once into $BENCH_DELTA_DIR and reused) as release
 * 1.0, and the same image with its one package bumped (tzdata) as 1.1, published with the real
 * `ota publish`, which makes the static delta 1.0 -> 1.1 as it does for any user. Both get the
 * same stand-in kernel (the images have none, and `ostree admin deploy` needs one), added as a
 * tree of its own, so the delta holds the package's change and nothing else. Pairs of devices
 * run 1.0, one per round: one for the relay, one updated by hand with libostree's CLI
 * (bench/agent/peer.ts).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../common/exec.js';
import { makeDevice, removeDevices, type Device, type Fleet } from '../../test/device-agent/agent/device.js';
import { serve, type Release } from '../../test/device-agent/update/harness.js';
import { ota } from '../../test/helpers/cli.js';
import { buildImage, lockImages, newDebs, type Image } from '../delta/images.js';
import type { World } from './setup.js';

const REF = 'bench-agent/arm64';
const KVER = '6.1.0-bench';

export interface RealUpdate {
  /** The first pair of devices; `pairs` holds every pair (one per round). */
  world: Omit<World, 'broker'>;
  pairs: { agent: Device; cli: Device }[];
  /** What 1.1 changes: the new .debs. */
  change: string;
  /** Publishes 1.1 (to group `lab`, with the static delta from 1.0), announced by the bench. */
  publish11(): Promise<Release & { deltaBytes: number }>;
}

/** The base and bump commits from the shared image cache (built there when missing). */
async function images(work: string): Promise<{ base: Image; bump: Image; buildRepo: string }> {
  const locked = await lockImages(work, false);
  const buildRepo = join(work, 'build-repo');
  return { base: await buildImage(locked.base, buildRepo), bump: await buildImage(locked.bump, buildRepo), buildRepo };
}

/** `commit` plus the stand-in kernel, with the metadata a release needs; returns the new commit. */
async function withKernel(buildRepo: string, img: Image, version: string, tmp: string): Promise<string> {
  const tree = join(tmp, 'kernel-tree');
  await mkdir(join(tree, 'usr/lib/modules', KVER), { recursive: true });
  await writeFile(join(tree, 'usr/lib/modules', KVER, 'vmlinuz'), 'KERNEL: a stand-in (the bench boots nothing)\n');
  await writeFile(join(tree, 'usr/lib/modules', KVER, 'initramfs.img'), 'INITRAMFS: a stand-in\n');
  const r = await run('ostree commit', [
    'ostree', `--repo=${buildRepo}`, 'commit', `--branch=${REF}`, `--subject=bench ${version}`, `--tree=ref=${img.commit}`, `--tree=dir=${tree}`,
    `--add-metadata-string=version=${version}`, '--add-metadata-string=ota.arch=arm64', `--add-metadata=ota.packages=uint32 ${img.lock.packages.size}`,
    '--timestamp=2026-12-01T00:00:00Z',
  ]);
  return r.stdout.trim();
}

async function publish(f: { pub: string; keyDir: string; buildRepo: string }, version: string, commit: string): Promise<Release & { deltaBytes: number }> {
  const r = await ota('publish', '--repo', f.buildRepo, '--commit', commit, '--to', f.pub, '--key', f.keyDir, '--ref', REF, '--version', version, '--group', 'lab', '--json');
  if (r.code !== 0) throw new Error(`ota publish ${version} failed: ${r.err}`);
  const doc = JSON.parse(r.out.join('\n')) as { commit: string; deltas: { bytes: number }[] };
  return { version, commit: doc.commit, deltaBytes: doc.deltas.reduce((s, d) => s + d.bytes, 0) };
}

/** The devices run an arm64 image: their image layer says so (the harness writes amd64). */
async function armDevice(root: string): Promise<void> {
  const file = join(root, 'usr/lib/ota/agent.yaml');
  const text = await readFile(file, 'utf8');
  const layer = JSON.parse(text.slice(text.indexOf('\n') + 1)) as Record<string, unknown>;
  await writeFile(file, `# the image's layer (bench/agent, arm64)\n${JSON.stringify({ ...layer, arch: 'arm64' }, null, 2)}\n`);
}

/** Publishes 1.0, with `pairs` pairs of devices deployed on it, and makes 1.1 (published by publish11); `work` is the image cache. */
export async function makeRealUpdate(tmp: string, work: string, pairs = 1): Promise<RealUpdate> {
  const t0 = Date.now();
  const { base, bump, buildRepo } = await images(work);
  const change = newDebs(base.lock, bump.lock).names.join(', ');
  const root = join(tmp, 'real');
  await mkdir(root, { recursive: true });
  const keyDir = join(root, 'keys');
  const k = await ota('keys', 'generate', keyDir);
  if (k.code !== 0) throw new Error(`ota keys generate failed: ${k.err}`);
  const p = { pub: join(root, 'published'), keyDir, buildRepo };
  const r10 = await publish(p, '1.0', await withKernel(buildRepo, base, '1.0', root));
  const c11 = await withKernel(buildRepo, bump, '1.1', root);
  const server = await serve(p.pub);
  const releases: Record<string, Release> = { '1.0': r10 };
  const only = () => Promise.reject(new Error('the real update publishes its 1.1 only (publish11)'));
  const fleet: Fleet = { root, publisher: { pub: p.pub, keyDir, publish: only }, server, releases, publish: only, close: () => server.close() };
  const made: { agent: Device; cli: Device }[] = [];
  for (let i = 0; i < pairs; i++) {
    const pair = { agent: await makeDevice(fleet, { dir: join(root, `agent-${i}`) }), cli: await makeDevice(fleet, { dir: join(root, `cli-${i}`) }) };
    await armDevice(pair.agent.root);
    await armDevice(pair.cli.root);
    made.push(pair);
  }
  console.log(`  real update: 1.0 ${r10.commit.slice(0, 12)} published and deployed on ${pairs * 2} devices in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return {
    world: { tmp: root, fleet, ...made[0]!, close: async () => { await fleet.close(); await removeDevices(root); } },
    pairs: made,
    change,
    publish11: async () => (releases['1.1'] = await publish(p, '1.1', c11)),
  };
}
