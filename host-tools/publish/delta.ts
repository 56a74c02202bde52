import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeVariant, generateDelta, staticDeltaPath, type Repo } from '../../node-ostree/index.js';
import { DELTA_TUNING } from './delta-tuning.js';

/**
 * A release's static delta: generated with the tuning in delta-tuning.ts, then measured as a
 * device sees it (docs/releases.md, "Publishing"): the superblock and every part it downloads,
 * plus the fallback objects the delta leaves out and the device fetches one by one.
 *
 * @example
 * const d = await generateReleaseDelta(repo, { from: oldCommit, to: newCommit });
 * console.log(d.bytes, d.parts, d.fallbackBytes);
 */
export interface ReleaseDelta {
  from: string;
  to: string;
  /** What a device downloads through this delta: superblock, parts and fallback objects. */
  bytes: number;
  parts: number;
  /** The archive-mode bytes of the fallback objects (included in `bytes`). */
  fallbackBytes: number;
}

/** OSTree's static delta superblock (OSTREE_STATIC_DELTA_SUPERBLOCK_FORMAT): metadata, timestamp, from, to, the to-commit, dependencies, parts, fallbacks (index 7). */
const SUPERBLOCK_TYPE = '(a{sv}tayay(a{sv}aya(say)sstayay)aya(uayttay)a(yaytt))';
const FALLBACK_OBJTYPE_EXT: Record<number, string> = { 1: 'filez', 2: 'dirtree', 3: 'dirmeta', 4: 'commit' };

/** The repository-relative directory of the delta from -> to. */
export function deltaDir(from: string | null, to: string): string {
  return staticDeltaPath(from, to);
}

function objectPath(repo: Repo, type: number, checksum: string): string {
  const ext = FALLBACK_OBJTYPE_EXT[type];
  if (!ext) throw new Error(`static delta fallback of unknown object type ${type}, this is a bug`);
  return join(repo.path, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.${ext}`);
}

/** Measures a generated delta: its files in the repository and its fallback objects. */
export async function measureDelta(repo: Repo, from: string | null, to: string): Promise<Omit<ReleaseDelta, 'from' | 'to'>> {
  const dir = join(repo.path, deltaDir(from, to));
  const superblock = await readFile(join(dir, 'superblock'));
  const decoded = decodeVariant(SUPERBLOCK_TYPE, superblock) as unknown[];
  const fallbacks = decoded[7] as [number, Buffer, bigint, bigint][];
  let bytes = 0;
  let parts = 0;
  for (const name of await readdir(dir)) {
    bytes += (await stat(join(dir, name))).size;
    if (/^\d+$/.test(name)) parts++;
  }
  let fallbackBytes = 0;
  for (const [type, csum] of fallbacks) fallbackBytes += (await stat(objectPath(repo, type, Buffer.from(csum).toString('hex')))).size;
  return { bytes: bytes + fallbackBytes, parts, fallbackBytes };
}

/**
 * Generates the static delta `from` -> `to` in `repo` (both commit checksums or refs) and
 * measures it. Generating an existing delta again replaces it with the same content.
 */
export async function generateReleaseDelta(repo: Repo, opts: { from: string; to: string }): Promise<ReleaseDelta> {
  const from = repo.resolve(opts.from);
  const to = repo.resolve(opts.to);
  await generateDelta(repo, { from, to, ...DELTA_TUNING });
  return { from, to, ...(await measureDelta(repo, from, to)) };
}
