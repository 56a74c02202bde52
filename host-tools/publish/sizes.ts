import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { listTree, readCommit, type Repo } from '../../node-ostree/index.js';

/**
 * The two sizes a release manifest states so a device can refuse before downloading
 * (docs/releases.md, "The release manifest"): the bytes of a full pull from the archive-mode
 * repository, and the disk space the deployment takes once checked out.
 *
 * @example
 * const { fullPullBytes, unpackedBytes } = await releaseSizes(repo, checksum);
 */
export interface ReleaseSizes {
  fullPullBytes: number;
  unpackedBytes: number;
}

const BLOCK = 4096;
const roundUp = (n: number) => Math.ceil(n / BLOCK) * BLOCK;
/** ext4 keeps a symlink target shorter than 60 bytes in the inode itself. */
const FAST_SYMLINK_MAX = 59;
/** An ext4 directory entry: 8 bytes of header plus the name, padded to 4 bytes. */
const direntBytes = (name: string) => 8 + Math.ceil(Buffer.byteLength(name) / 4) * 4;

const EXT = { file: 'filez', dirTree: 'dirtree', dirMeta: 'dirmeta', commit: 'commit' } as const;

function objectPath(repo: Repo, type: keyof typeof EXT, checksum: string): string {
  return join(repo.path, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.${EXT[type]}`);
}

export async function releaseSizes(repo: Repo, checksum: string): Promise<ReleaseSizes> {
  const commit = readCommit(repo, checksum);
  const entries = listTree(repo, checksum, { details: true });
  // Every object once, as a pull fetches it: commit, dirtrees, dirmetas, file objects.
  const objects = new Map<string, keyof typeof EXT>([[checksum, 'commit'], [commit.rootContents, 'dirTree'], [commit.rootMeta, 'dirMeta']]);
  // Disk space once checked out: a deployment hardlinks each file object from the device's
  // repository, so each object's blocks count once; every directory takes its entries' bytes
  // in 4 KiB blocks (at least one); inodes are preallocated by ext4 and cost nothing more.
  let unpacked = 0;
  const dirBytes = new Map<string, number>([['', 0]]);
  const seenFiles = new Set<string>();
  for (const e of entries) {
    const slash = e.path.lastIndexOf('/');
    const parent = e.path.slice(0, slash);
    dirBytes.set(parent, (dirBytes.get(parent) ?? 0) + direntBytes(e.path.slice(slash + 1)));
    if (e.type === 'directory') {
      objects.set(e.checksum, 'dirTree');
      objects.set(e.meta!, 'dirMeta');
      dirBytes.set(e.path, dirBytes.get(e.path) ?? 0);
      continue;
    }
    objects.set(e.checksum, 'file');
    if (seenFiles.has(e.checksum)) continue;
    seenFiles.add(e.checksum);
    if (e.symlinkTarget === undefined) unpacked += roundUp(e.size ?? 0);
    else if (Buffer.byteLength(e.symlinkTarget) > FAST_SYMLINK_MAX) unpacked += BLOCK;
  }
  for (const bytes of dirBytes.values()) unpacked += Math.max(BLOCK, roundUp(bytes));
  let full = 0;
  for (const [cs, type] of objects) full += (await stat(objectPath(repo, type, cs))).size;
  return { fullPullBytes: full, unpackedBytes: unpacked };
}
