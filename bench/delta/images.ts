/**
 * The reference images bench/delta and bench/agent share: arm64 minbase locked with a pin of the
 * first of PIN_CANDIDATES whose release-suite version differs from the newest in exactly one
 * package (the base), the same without the pin (the one-package bump), and the base plus `curl`.
 * Locked and built with our own `lock` and `build` into `<work>/build-repo`, which is kept: a
 * rerun builds nothing (`ota build` is a no-op when the lock did not change).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultCacheDir } from '../../host-tools/apt/index-cache.js';
import { build } from '../../host-tools/compose/build.js';
import { lock } from '../../host-tools/lock/lock.js';
import { readLock, type Lock } from '../../host-tools/lock/lockfile.js';

/** The changed package: the first whose release-suite pin changes exactly one package of the lock. */
const PIN_CANDIDATES = ['tzdata', 'unzip', 'zip'];

export const cacheDir = defaultCacheDir();
/** Where the images are built and kept (and bench/delta's other work). */
export const workDir = process.env.BENCH_DELTA_DIR ?? '/var/tmp/ota-bench-delta';

export interface Image {
  manifest: string;
  lock: Lock;
  commit: string;
}

export type Locked = Omit<Image, 'commit'>;

async function lockImage(work: string, name: string, packages: string[]): Promise<Locked> {
  const manifest = join(work, 'images', `${name}.yaml`);
  await writeFile(manifest, `name: bench\narch: arm64\nsources:\n  - uri: host\nvariant: minbase\npackages: [${packages.join(', ')}]\n`);
  const r = await lock({ manifestPath: manifest, cacheDir, update: true });
  return { manifest, lock: readLock(r.text, r.lockPath) };
}

const key = (c: { name: string; version: string; architecture: string }) => `${c.name} ${c.version} ${c.architecture}`;

/** Packages of `to` that `from` lacks in that version: what apt would download. */
export function newDebs(from: Lock, to: Lock): { names: string[]; bytes: number } {
  const had = new Set([...from.packages.values()].map(key));
  const fresh = [...to.packages.values()].filter((c) => !had.has(key(c)));
  return { names: fresh.map((c) => `${c.name} ${c.version}`), bytes: fresh.reduce((s, c) => s + c.size, 0) };
}

/** Locks the base and the bump (and with `withCurl`, base + curl): the first pin candidate that changes exactly one package. */
export async function lockImages(work: string, withCurl = true): Promise<{ base: Locked; bump: Locked; curl?: Locked; pinned: string }> {
  await mkdir(join(work, 'images'), { recursive: true });
  const probe = await lockImage(work, 'probe', []);
  const suites = probe.lock.header.sources.map((s) => s.suite);
  const release = suites.find((s) => !s.includes('-')) ?? suites[0]!;
  for (const name of PIN_CANDIDATES) {
    const base = await lockImage(work, 'base', [`${name}/${release}`]).catch((e: unknown) => {
      console.log(`  (i) ${name}/${release}: cannot be locked (${(e as Error).message}); trying the next`);
      return undefined;
    });
    if (!base) continue;
    const bump = await lockImage(work, 'bump', [name]);
    const diff = newDebs(base.lock, bump.lock);
    if (diff.names.length === 1 && bump.lock.packages.size === base.lock.packages.size) {
      const curl = withCurl ? await lockImage(work, 'curl', [`${name}/${release}`, 'curl']) : undefined;
      return { base, bump, ...(curl ? { curl } : {}), pinned: `${name}/${release}` };
    }
    console.log(`  (i) ${name}/${release}: ${diff.names.length} packages differ, need exactly 1; trying the next`);
  }
  throw new Error(`none of ${PIN_CANDIDATES.join(', ')} changes exactly one package when pinned to ${release}`);
}

export async function buildImage(img: Locked, repoPath: string): Promise<Image> {
  const t0 = process.hrtime.bigint();
  const r = await build({ inputs: [img.manifest], repoPath, cacheDir });
  const b = r.images[0]!;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`  built ${b.image} ${b.checksum.slice(0, 12)}: ${b.packages} packages, ${b.noop ? 'no-op' : `${s.toFixed(1)} s`}`);
  return { ...img, commit: b.checksum };
}
