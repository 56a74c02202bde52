/**
 * bench/delta: the bytes a device downloads to update the reference image (arm64 minbase, the
 * image to which adding curl brings 16 new packages) to two successors:
 *  (i)  a one-package version bump: the first of PIN_CANDIDATES whose release-suite pin changes
 *       exactly one package (the base image is locked with the pin, the successor without it);
 *  (ii) the base image plus `curl`;
 * each as: the new .debs (what apt would fetch), OSTree's default static delta, our tuned delta
 * (host-tools/publish/delta-tuning.ts, what `ota publish` generates), both counted as a device
 * downloads them (superblock, parts, fallback objects as archive-mode .filez), and the zstd -19
 * tarball of the new rootfs (what an A/B image updater ships). The tuned deltas are then pulled
 * over HTTP from a served directory into a repository holding the base commit, and the bytes
 * the server sent are printed next to the accounting. Generation time and peak memory (max RSS,
 * in a process of its own: bench/delta/generate.ts) are printed for both deltas, and the memory
 * a device takes to apply ours (bench/delta/apply.ts).
 * Targets: (i) ours < the new .deb; (ii) ours <= 1.0x the new .debs; both < 10% of the tarball.
 * Work directory: $BENCH_DELTA_DIR (default /var/tmp/ota-bench-delta): it keeps the build
 * repository and the tarball sizes, so a rerun rebuilds nothing (ota build is a no-op) and
 * measures only the deltas.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { run } from '../common/exec.js';
import { fetchBytes } from '../common/http.js';
import { deltaDir } from '../host-tools/publish/delta.js';
import { decodeVariant, exportTar, libostreeVersion, pull, regenerateSummary, Repo } from '../node-ostree/index.js';
import { buildImage, cacheDir, lockImages, newDebs, workDir, type Image } from './delta/images.js';
import { serveDirectory, type Served } from './delta/static-server.js';

const TARGET = { bump: 1.0, curl: 1.0, tarball: 0.1 };
/** OSTree's static delta superblock; index 6 holds the part headers. */
const SUPERBLOCK_PARTS_TYPE = '(a{sv}tayay(a{sv}aya(say)sstayay)aya(uayttay)a(yaytt))';

const work = workDir;
const MB = (n: number) => `${(n / 1e6).toFixed(3)} MB`;
const x2 = (r: number) => `${r.toFixed(2)}x`;
const pct = (r: number) => `${(r * 100).toFixed(1)}%`;

/** The zstd -19 tarball of a commit's rootfs, in bytes; kept per commit in the work directory. */
async function tarballBytes(repo: Repo, commit: string): Promise<{ tar: number; zst: number }> {
  const memo = join(work, 'tarballs', `${commit}.json`);
  if (existsSync(memo)) return JSON.parse(await readFile(memo, 'utf8')) as { tar: number; zst: number };
  await mkdir(join(work, 'tarballs'), { recursive: true });
  const tar = join(work, 'tarballs', `${commit}.tar`);
  const out = createWriteStream(tar);
  await exportTar(repo, commit, out); // ends the stream
  await finished(out);
  await run('zstd -19', ['zstd', '-19', '-T1', '-q', '-f', '-o', `${tar}.zst`, tar]);
  const sizes = { tar: (await stat(tar)).size, zst: (await stat(`${tar}.zst`)).size };
  await rm(tar);
  await rm(`${tar}.zst`);
  await writeFile(memo, JSON.stringify(sizes));
  return sizes;
}

interface Generated {
  bytes: number;
  parts: number;
  fallbackBytes: number;
  seconds: number;
  baseRssBytes: number;
  maxRssBytes: number;
}

async function generate(repo: Repo, from: string, to: string, mode: 'default' | 'tuned'): Promise<Generated> {
  const script = join(import.meta.dirname, 'delta', 'generate.ts');
  const r = await run(`delta ${mode}`, [process.execPath, '--import', 'tsx', script, repo.path, from, to, mode], { cwd: join(import.meta.dirname, '..') });
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Generated;
}

const genLine = (label: string, g: Generated) =>
  `    ${label}: ${MB(g.bytes)} (${g.parts} part${g.parts === 1 ? '' : 's'}, fallback objects ${MB(g.fallbackBytes)}); ` +
  `generated in ${g.seconds.toFixed(1)} s, max RSS ${MB(g.maxRssBytes)} (${MB(g.maxRssBytes - g.baseRssBytes)} above the process's ${MB(g.baseRssBytes)} before)`;

interface Case {
  label: string;
  debs: number;
  ours: number;
  tarball: number;
  target: number;
}

async function measureCase(pub: Repo, label: string, base: Image, next: Image): Promise<Case & { to: string }> {
  const debs = newDebs(base.lock, next.lock);
  const def = await generate(pub, base.commit, next.commit, 'default');
  const ours = await generate(pub, base.commit, next.commit, 'tuned');
  const tb = await tarballBytes(pub, next.commit);
  console.log(`  ${label}: ${base.commit.slice(0, 12)} -> ${next.commit.slice(0, 12)}`);
  console.log(`    new .debs: ${MB(debs.bytes)} (${debs.names.length}: ${debs.names.join(', ')})`);
  console.log(genLine('OSTree default delta', def));
  console.log(genLine('our tuned delta', ours));
  console.log(`    zstd -19 rootfs tarball: ${MB(tb.zst)} (tar ${MB(tb.tar)})`);
  console.log(
    `    ratios: ours/new debs ${x2(ours.bytes / debs.bytes)}, default/new debs ${x2(def.bytes / debs.bytes)}, ` +
      `ours/default ${x2(ours.bytes / def.bytes)}, ours/tarball ${pct(ours.bytes / tb.zst)}, default/tarball ${pct(def.bytes / tb.zst)}, ` +
      `generation time ours/default ${x2(ours.seconds / def.seconds)}, max RSS ours/default ${x2(ours.maxRssBytes / def.maxRssBytes)}`,
  );
  return { label, debs: debs.bytes, ours: ours.bytes, tarball: tb.zst, target: label.startsWith('(i)') ? TARGET.bump : TARGET.curl, to: next.commit };
}

interface DeviceRun {
  /** Memory the offline apply took above its process's own, when measured. */
  applyRssBytes?: number;
  /** Bytes the server sent, and in how many requests (delta files, single objects). */
  served: number;
  requests: number;
  deltaRequests: number;
  objectRequests: number;
}

/** A bare-user repository holding `from`, as a device has it before the update. */
async function deviceRepo(pub: Repo, from: string): Promise<Repo> {
  const path = join(work, 'device');
  await rm(path, { recursive: true, force: true });
  const device = await Repo.create(path, 'bare-user');
  await pull(device, pub.path, { refs: [from], disableStaticDeltas: true });
  return device;
}

async function finishDevice(device: Repo, server: Served, to: string): Promise<DeviceRun> {
  if (!device.hasObject('commit', to)) throw new Error(`the device did not get ${to}`);
  await device.fsck(to);
  device.close();
  await rm(device.path, { recursive: true, force: true });
  const log = server.log();
  return {
    served: log.reduce((s, r) => s + r.bytes, 0),
    requests: log.length,
    deltaRequests: log.filter((r) => r.path.startsWith('/deltas/')).length,
    objectRequests: log.filter((r) => r.path.startsWith('/objects/')).length,
  };
}

/** libostree's own pull over HTTP, which finds the delta through the summary. */
async function devicePull(pub: Repo, server: Served, from: string, to: string): Promise<DeviceRun> {
  const device = await deviceRepo(pub, from);
  server.reset();
  await pull(device, server.url, { refs: [to] });
  return finishDevice(device, server, to);
}

/** The delta's superblock and parts fetched over HTTP, then applied offline (no fallbacks allowed). */
async function deviceOffline(pub: Repo, server: Served, from: string, to: string): Promise<DeviceRun> {
  const device = await deviceRepo(pub, from);
  const dir = join(work, 'device-delta');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
  server.reset();
  const base = `${server.url}/${deltaDir(from, to)}`;
  const superblock = await fetchBytes(`${base}/superblock`);
  await writeFile(join(dir, 'superblock'), superblock);
  const parts = (decodeVariant(SUPERBLOCK_PARTS_TYPE, superblock) as unknown[])[6] as unknown[];
  for (let i = 0; i < parts.length; i++) await writeFile(join(dir, String(i)), await fetchBytes(`${base}/${i}`));
  device.close(); // applied by a process of its own, which measures the memory it takes
  const script = join(import.meta.dirname, 'delta', 'apply.ts');
  const r = await run('delta apply', [process.execPath, '--import', 'tsx', script, device.path, join(dir, 'superblock')], { cwd: join(import.meta.dirname, '..') });
  const applied = JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number; baseRssBytes: number; maxRssBytes: number };
  await rm(dir, { recursive: true, force: true });
  return { ...(await finishDevice(await Repo.open(device.path), server, to)), applyRssBytes: applied.maxRssBytes - applied.baseRssBytes };
}

const deviceLine = (label: string, d: DeviceRun, accounted: number) =>
  `    ${label}: server sent ${MB(d.served)} in ${d.requests} requests (${d.deltaRequests} delta files, ${d.objectRequests} single objects), ${x2(d.served / accounted)} the accounting` +
  (d.applyRssBytes === undefined ? '' : `; applying took ${MB(d.applyRssBytes)} of memory (max RSS above the process's own)`);

async function main(): Promise<void> {
  await mkdir(work, { recursive: true });
  console.log(`locking and building in ${work} (debs from ${cacheDir})`);
  const locked = await lockImages(work);
  console.log(`  base: minbase + ${locked.pinned}; (i) the pin dropped; (ii) base + curl`);
  const buildRepo = join(work, 'build-repo');
  const base = await buildImage(locked.base, buildRepo);
  const bump = await buildImage(locked.bump, buildRepo);
  const curl = await buildImage(locked.curl!, buildRepo);

  // The published side: an archive-mode repository, as `ota publish` writes, with no deltas yet.
  const pubPath = join(work, 'published', 'repo');
  const pub = existsSync(pubPath) ? await Repo.open(pubPath) : await Repo.create(pubPath, 'archive');
  await rm(join(pubPath, 'deltas'), { recursive: true, force: true });
  for (const c of [base, bump, curl]) if (!pub.hasObject('commit', c.commit)) await pull(pub, buildRepo, { refs: [c.commit] });

  console.log('measuring');
  const cases = [await measureCase(pub, '(i) one-package bump', base, bump), await measureCase(pub, '(ii) adding curl', base, curl)];

  // Confirmation: a real pull through the tuned deltas, over HTTP from the published directory.
  await regenerateSummary(pub);
  const server = await serveDirectory(pubPath);
  try {
    for (const c of cases) {
      console.log(`  ${c.label}, our delta (${MB(c.ours)} accounted) to a device over HTTP:`);
      console.log(deviceLine('delta files fetched, applied offline', await deviceOffline(pub, server, base.commit, c.to), c.ours));
      console.log(deviceLine(`libostree ${libostreeVersion().version} pull`, await devicePull(pub, server, base.commit, c.to), c.ours));
    }
  } finally {
    await server.close();
    pub.close();
  }
  report(cases);
}

function report(cases: Case[]): void {
  const [bump, curl] = cases as [Case, Case];
  const rBump = bump.ours / bump.debs;
  const rCurl = curl.ours / curl.debs;
  const tarMax = Math.max(bump.ours / bump.tarball, curl.ours / curl.tarball);
  const ok = rBump < TARGET.bump && rCurl <= TARGET.curl && tarMax < TARGET.tarball;
  const worse = rBump / TARGET.bump >= rCurl / TARGET.curl ? { label: '(i)', r: rBump } : { label: '(ii)', r: rCurl };
  console.log(
    `bench delta: ours/new debs (worse of (i) ${x2(rBump)}, (ii) ${x2(rCurl)}) = ${x2(worse.r)} ${worse.label}, ` +
      `target (i) < ${x2(TARGET.bump)}, (ii) <= ${x2(TARGET.curl)}, both < ${pct(TARGET.tarball)} of the tarball (max ${pct(tarMax)}) ${ok ? 'ok' : 'short'}`,
  );
}

await main();
