/**
 * bench/build: `ota build` against what a user would do instead, `mmdebstrap` then `ostree commit`
 * of its result, for the same package set, arm64 and amd64, in the same run, both with warm
 * download caches (ota's deb cache, filled by an untimed warm-up build; the same .debs put into
 * mmdebstrap's /var/cache/apt/archives by a setup hook, as its manual shows):
 *  (a) a full build of minbase + one package pinned to the release suite, into a fresh repository
 *      (ota imports every deb into it, which is part of its cost);
 *  (b) a rebuild after that one package's version changes (the pin dropped; ota builds into the
 *      repository holding (a), mmdebstrap has no incremental mode so it runs again, committed again);
 *  (c) a second image sharing most packages, minbase + less nano (ota: into the same repository;
 *      mmdebstrap: from scratch, committed into a fresh repository);
 * the ota repository holding (a) and (c) against (a) alone (du -sb), and a no-op rebuild of (a).
 * Ratios are ota time / (mmdebstrap time + ostree init and commit time); mmdebstrap installs the
 * exact versions of ota's lock (a suite pin is passed as `name=version`), which is checked.
 * Targets (arm64 only): (a) <= 0.5, (b) <= 0.4, (c) <= 0.45, repo <= 1.2x, no-op < 1 s.
 * amd64 is measured and printed, with no target.
 */
import { link, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../common/exec.js';
import { defaultCacheDir } from '../host-tools/apt/index-cache.js';
import { build, type ImageBuild } from '../host-tools/compose/build.js';
import { lock } from '../host-tools/lock/lock.js';
import { readLock, type Lock } from '../host-tools/lock/lockfile.js';

const ARCHES = ['arm64', 'amd64'];
/** (c)'s extra packages on top of minbase. */
const EXTRA = ['less', 'nano'];
/** (b)'s changed package: the first whose release-suite pin changes exactly one package of the lock. */
const PIN_CANDIDATES = ['tzdata', 'unzip', 'zip'];
const TARGET = { a: 0.5, b: 0.4, c: 0.45, repo: 1.2, noop: 1 };

const cacheDir = defaultCacheDir();
const work = await mkdtemp(join(tmpdir(), 'ota-bench-build-'));
const hostArch = (await run('host architecture', ['dpkg', '--print-architecture'])).stdout.trim();
const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const f1 = (s: number) => s.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

interface Image {
  manifest: string;
  lock: Lock;
  /** mmdebstrap's --include: the manifest's packages, a suite pin as the version the lock chose. */
  includes: string[];
}

async function lockImage(dir: string, file: string, name: string, arch: string, packages: string[]): Promise<Image> {
  const manifest = join(dir, file);
  await writeFile(manifest, `name: ${name}\narch: ${arch}\nsources:\n  - uri: host\nvariant: minbase\npackages: [${packages.join(', ')}]\n`);
  const r = await lock({ manifestPath: manifest, cacheDir, update: true });
  const l = readLock(r.text, r.lockPath);
  const includes = packages.map((p) => {
    const m = /^([^=/]+)\/.+$/.exec(p);
    return m ? `${m[1]}=${l.packages.get(m[1]!)!.version}` : p;
  });
  return { manifest, lock: l, includes };
}

function versionDiff(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const n of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    if (a.get(n) !== b.get(n)) out.push(`${n} ${a.get(n) ?? '(none)'} -> ${b.get(n) ?? '(none)'}`);
  }
  return out;
}
const versions = (l: Lock) => new Map([...l.packages.values()].map((c) => [c.name, c.version]));

/** The .debs of a lock from ota's cache, under the names apt looks for in /var/cache/apt/archives. */
async function debDir(dir: string, l: Lock): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const c of l.packages.values()) {
    // apt's archive name is name_version_arch with ':' quoted: the pool basename lacks the epoch,
    // so under that name apt would not recognise an epoch package and download it again.
    await link(join(cacheDir, 'debs', `${c.sha256}.deb`), join(dir, `${c.name}_${c.version.replace(/:/g, '%3a')}_${c.architecture}.deb`));
  }
  return dir;
}

async function duBytes(path: string): Promise<number> {
  return Number((await run('du', ['du', '-sb', path])).stdout.split('\t')[0]);
}

/** rm -rf, but never through something still mounted (a failed mmdebstrap could leave /proc mounted). */
async function removeTree(path: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '');
  const left = mounts.filter((m) => m === path || m.startsWith(`${path}/`));
  if (left.length > 0) throw new Error(`${path} still has mounts (${left.join(', ')}); not removing it`);
  await rm(path, { recursive: true, force: true });
}

interface OtaRun {
  image: ImageBuild;
  seconds: number;
  imported: number;
}

async function otaBuild(img: Image, repoPath: string): Promise<OtaRun> {
  const t0 = process.hrtime.bigint();
  const r = await build({ inputs: [img.manifest], repoPath, cacheDir });
  return { image: r.images[0]!, seconds: seconds(t0), imported: r.debs.imported };
}

function otaLine(label: string, o: OtaRun): string {
  const phases = Object.entries(o.image.seconds);
  const other = o.seconds - phases.reduce((s, [, v]) => s + v, 0);
  const detail = o.image.noop ? 'no-op' : `${phases.map(([k, v]) => `${k} ${f1(v)}`).join(', ')}, other ${f1(other)}`;
  const warn = o.image.warnings.length > 0 ? `, ${o.image.warnings.length} warnings` : '';
  return `  ota ${label}: ${f1(o.seconds)} s (${detail}; ${o.image.packages} packages, ${o.imported} debs imported${warn})`;
}

interface MmRun {
  mmdebstrap: number;
  commit: number;
  installed: Map<string, string>;
  /** apt's "Need to get" amounts that were not 0 B: the cache was not warm. */
  fetched: string[];
}

async function mmdebstrapAndCommit(dir: string, arch: string, release: string, img: Image, debs: string): Promise<MmRun> {
  const out = join(dir, 'rootfs');
  const repo = join(dir, 'repo');
  await mkdir(dir, { recursive: true }); // mmdebstrap creates the target, but not its parent
  const argv = [
    'mmdebstrap',
    '--verbose',
    '--variant=minbase',
    `--architectures=${arch}`,
    '--mode=root',
    // The check needs arch-test; binfmt_misc with qemu-user-static is what it would check.
    ...(arch === hostArch ? [] : ['--skip=check/qemu']),
    `--setup-hook=mkdir -p "$1/var/cache/apt/archives" && cp '${debs}'/*.deb "$1/var/cache/apt/archives/"`,
    ...(img.includes.length > 0 ? [`--include=${img.includes.join(',')}`] : []),
    release,
    out,
    // The suites ota's lock was resolved from (the host's apt sources, as `uri: host` read them).
    ...img.lock.header.sources.map((s) => `deb ${s.uri} ${s.suite} ${s.components.join(' ')}`),
  ];
  let t0 = process.hrtime.bigint();
  const r = await run(`mmdebstrap ${arch}`, argv);
  // ostree cannot commit device nodes: the ones mmdebstrap made in /dev go first (a user must too).
  for (const e of await readdir(join(out, 'dev'))) await rm(join(out, 'dev', e), { recursive: true, force: true });
  const mm = seconds(t0);
  t0 = process.hrtime.bigint();
  await run('ostree init', ['ostree', 'init', `--repo=${repo}`, '--mode=bare']);
  await run('ostree commit', ['ostree', 'commit', `--repo=${repo}`, `--tree=dir=${out}`, '--branch=x']);
  const commit = seconds(t0);
  const q = await run('dpkg-query', ['dpkg-query', `--admindir=${join(out, 'var/lib/dpkg')}`, '-W', '-f', '${Package} ${Version}\\n']);
  const installed = new Map(q.stdout.trim().split('\n').map((l) => l.split(' ') as [string, string]));
  const fetched = [...`${r.stdout}\n${r.stderr}`.matchAll(/^Need to get ([^/\n]+)\//gm)].map((m) => m[1]!).filter((s) => s !== '0 B');
  await removeTree(dir);
  return { mmdebstrap: mm, commit, installed, fetched };
}

function mmLine(label: string, m: MmRun, img: Image): string {
  const diff = versionDiff(versions(img.lock), m.installed);
  const same = diff.length === 0 ? 'same package versions as ota' : `DIFFERENT from ota: ${diff.join('; ')}`;
  const warm = m.fetched.length === 0 ? '' : `; NOT WARM, apt downloaded ${m.fetched.join(' + ')}`;
  return `  mmdebstrap ${label}: ${f1(m.mmdebstrap)} s + ostree commit ${f1(m.commit)} s = ${f1(m.mmdebstrap + m.commit)} s (packages: ota ${img.lock.packages.size}, mmdebstrap ${m.installed.size}, ${same}${warm})`;
}

interface ArchResult {
  a: number;
  b: number;
  c: number;
  repo: number;
  noop: number;
}

async function benchArch(arch: string): Promise<ArchResult> {
  const dir = join(work, arch);
  await mkdir(dir, { recursive: true });
  console.log(`${arch}: locking from the host's apt sources`);
  const c = await lockImage(dir, 'c.yaml', 'bench-c', arch, EXTRA);
  const suites = c.lock.header.sources.map((s) => s.suite);
  const release = suites.find((s) => !s.includes('-')) ?? suites[0]!;

  // (a) and (b): one package pinned to the release suite, then not; exactly one package must differ.
  let a: Image | undefined;
  let b: Image | undefined;
  let changed = '';
  for (const name of PIN_CANDIDATES) {
    let pinned: Image;
    try {
      pinned = await lockImage(dir, 'a.yaml', 'bench', arch, [`${name}/${release}`]);
    } catch (e) {
      console.log(`  (b) ${name}/${release}: cannot be locked (${(e as Error).message}); trying the next`);
      continue;
    }
    const current = await lockImage(dir, 'b.yaml', 'bench', arch, [name]);
    const diff = versionDiff(versions(pinned.lock), versions(current.lock));
    if (diff.length === 1) {
      [a, b, changed] = [pinned, current, diff[0]!];
      break;
    }
    console.log(`  (b) ${name}/${release}: ${diff.length} packages differ between the locks${diff.length > 0 ? ` (${diff.join('; ')})` : ''}, need exactly 1; trying the next`);
  }
  if (!a || !b) throw new Error(`${arch}: none of ${PIN_CANDIDATES.join(', ')} changes exactly one package when pinned to ${release}`);
  console.log(`  (a) minbase + ${a.includes.join(' ')}; (b) minbase + ${b.includes.join(' ')}: ${changed}; (c) minbase + ${c.includes.join(' ')}`);

  // Warm-up (untimed): fills ota's deb cache for all three images and warms the code.
  const t0 = process.hrtime.bigint();
  const warmRepo = join(dir, 'warmup-repo');
  const w1 = await build({ inputs: [a.manifest, c.manifest], repoPath: warmRepo, cacheDir });
  const w2 = await build({ inputs: [b.manifest], repoPath: warmRepo, cacheDir });
  await removeTree(warmRepo);
  const dl = w1.debs.downloadBytes + w2.debs.downloadBytes;
  console.log(`  warm-up: ${f1(seconds(t0))} s, ${w1.debs.downloaded + w2.debs.downloaded} debs (${f1(dl / 1e6)} MB) downloaded now`);
  const debsA = await debDir(join(dir, 'debs-a'), a.lock);
  const debsB = await debDir(join(dir, 'debs-b'), b.lock);
  const debsC = await debDir(join(dir, 'debs-c'), c.lock);

  const repo = join(dir, 'ota-repo');
  const otaA = await otaBuild(a, repo);
  const sizeA = await duBytes(repo);
  console.log(otaLine('(a)', otaA));
  const mmA = await mmdebstrapAndCommit(join(dir, 'mm-a'), arch, release, a, debsA);
  console.log(mmLine('(a)', mmA, a));

  const otaC = await otaBuild(c, repo);
  const sizeAC = await duBytes(repo);
  console.log(otaLine('(c)', otaC));
  const mmC = await mmdebstrapAndCommit(join(dir, 'mm-c'), arch, release, c, debsC);
  console.log(mmLine('(c)', mmC, c));

  const noop = await otaBuild(a, repo);
  console.log(otaLine('no-op (a) again', noop));
  if (!noop.image.noop) console.log(`  the rebuild of (a) was NOT a no-op`);

  const otaB = await otaBuild(b, repo);
  console.log(otaLine('(b)', otaB));
  const mmB = await mmdebstrapAndCommit(join(dir, 'mm-b'), arch, release, b, debsB);
  console.log(mmLine('(b)', mmB, b));
  await removeTree(dir);

  const r: ArchResult = {
    a: otaA.seconds / (mmA.mmdebstrap + mmA.commit),
    b: otaB.seconds / (mmB.mmdebstrap + mmB.commit),
    c: otaC.seconds / (mmC.mmdebstrap + mmC.commit),
    repo: sizeAC / sizeA,
    noop: noop.image.noop ? noop.seconds : Infinity,
  };
  console.log(`  repo: ${f1(sizeA / 1e6)} MB after (a), ${f1(sizeAC / 1e6)} MB after (a)+(c)`);
  console.log(`${arch}: (a) ${f2(r.a)}x (b) ${f2(r.b)}x (c) ${f2(r.c)}x, repo ${f2(r.repo)}x, no-op ${f2(r.noop)} s`);
  return r;
}

const results = new Map<string, ArchResult>();
for (const arch of ARCHES) results.set(arch, await benchArch(arch));
await rm(work, { recursive: true, force: true });

const r = results.get('arm64')!;
const ok = r.a <= TARGET.a && r.b <= TARGET.b && r.c <= TARGET.c && r.repo <= TARGET.repo && r.noop < TARGET.noop;
console.log(
  `bench build: arm64 (a) ${f2(r.a)}x (b) ${f2(r.b)}x (c) ${f2(r.c)}x, repo ${f2(r.repo)}x, no-op ${f1(r.noop)} s, ` +
    `target (a)<=${TARGET.a} (b)<=${TARGET.b} (c)<=${TARGET.c} repo<=${TARGET.repo} no-op<${TARGET.noop}s ${ok ? 'ok' : 'short'}`,
);
