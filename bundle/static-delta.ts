import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeSuperblock, sha256, type Superblock } from '../node-ostree/index.js';

export { decodeSuperblock, sha256, type DeltaFallback, type DeltaPart, type Superblock } from '../node-ostree/index.js';

/**
 * The check of a static delta's files against its superblock (decoded in node-ostree, which the
 * device agent shares). `ota verify` runs it over a published repository's deltas/ and over a
 * bundle's delta before anything is applied (docs/releases.md, "Bundles").
 *
 * @example
 * const sb = await readSuperblock(join(repoPath, staticDeltaPath(from, to)));
 * const problems = await checkDeltaParts(join(repoPath, staticDeltaPath(from, to)), sb);
 */

/**
 * Checks each part file of a delta in `dir` (named 0, 1, ...) against the superblock: present,
 * the size it lists, the SHA-256 it lists. Returns one line per problem; reads parts one at a time.
 */
export async function checkDeltaParts(dir: string, sb: Superblock): Promise<string[]> {
  const problems: string[] = [];
  for (const part of sb.parts) {
    const file = join(dir, String(part.index));
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch {
      problems.push(`part ${part.index} is missing (${file})`);
      continue;
    }
    if (bytes.length !== part.compressedBytes) problems.push(`part ${part.index} is ${bytes.length} bytes, the superblock says ${part.compressedBytes} (${file})`);
    else if (sha256(bytes) !== part.checksum) problems.push(`part ${part.index} does not match its checksum in the superblock (${file})`);
  }
  return problems;
}

/** The superblock of the delta in `dir`, decoded. */
export async function readSuperblock(dir: string): Promise<Superblock> {
  const fh = await open(join(dir, 'superblock'), 'r');
  try {
    return decodeSuperblock(await fh.readFile());
  } finally {
    await fh.close();
  }
}
