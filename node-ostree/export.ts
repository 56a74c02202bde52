import type { Writable } from 'node:stream';
import { C, type Ptr } from './ffi/libs.js';
import { callAsync, check, errorOut, takeVariantBytes, unref } from './ffi/call.js';
import { decodeVariant } from './gvariant.js';
import { listTree, readCommit, type TreeEntry } from './tree.js';
import { TarWriter } from './tar-writer.js';
import type { Repo } from './repo.js';

/**
 * Exports a commit as a tar stream (pax, with xattrs), streaming file contents from the
 * repository in chunks with back-pressure: a rootfs of any size passes through in bounded
 * memory. Every entry's mtime is the commit's timestamp, so the same commit always gives the
 * same bytes. Usable for `ota image` (a rootfs tarball), containers, or inspection.
 *
 * @example
 * await exportTar(repo, 'image/arm64', createWriteStream('rootfs.tar'));
 */
export async function exportTar(repo: Repo, rev: string, output: Writable, options: { subpath?: string } = {}): Promise<{ entries: number; bytes: number }> {
  const commit = readCommit(repo, rev);
  const entries = listTree(repo, commit.checksum, { path: options.subpath ?? '/', details: true });
  const base = (options.subpath ?? '/').replace(/\/+$/, '');
  const tar = new TarWriter({ output });
  let bytes = 0;
  for (const e of entries) {
    const rel = (base && e.path.startsWith(`${base}/`) ? e.path.slice(base.length + 1) : e.path.replace(/^\//, '')) || '.';
    const common = { path: rel, mode: (e.mode ?? 0) & 0o7777, uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: commit.timestamp };
    if (e.type === 'directory') {
      await tar.addEntry({ ...common, type: 'directory' });
    } else if (e.symlinkTarget !== undefined) {
      await tar.addEntry({ ...common, type: 'symlink', linkname: e.symlinkTarget, xattrs: await xattrsOf(repo, e) });
    } else {
      await tar.addEntry({ ...common, type: 'file', size: e.size ?? 0, xattrs: await xattrsOf(repo, e) }, contentOf(repo, e));
      bytes += e.size ?? 0;
    }
  }
  await tar.finish();
  return { entries: entries.length, bytes };
}

async function xattrsOf(repo: Repo, e: TreeEntry): Promise<Record<string, Buffer> | undefined> {
  const x: Ptr[] = [null];
  const err = errorOut();
  check(await callAsync(C.ostree_repo_load_file, repo.ptr, e.checksum, null, null, x, null, err), err, `loading xattrs of ${e.path}`, repo.path);
  if (!x[0]) return undefined;
  const pairs = decodeVariant('a(ayay)', takeVariantBytes(x[0])) as [Buffer, Buffer][];
  if (pairs.length === 0) return undefined;
  // Names are NUL-terminated byte strings in OSTree's xattr lists.
  return Object.fromEntries(pairs.map(([k, v]) => [k.toString('utf8').replace(/\0$/, ''), v]));
}

const CHUNK = 1 << 20;

async function* contentOf(repo: Repo, e: TreeEntry): AsyncGenerator<Buffer> {
  const input: Ptr[] = [null];
  const err = errorOut();
  check(await callAsync(C.ostree_repo_load_file, repo.ptr, e.checksum, input, null, null, null, err), err, `loading ${e.path}`, repo.path);
  try {
    let left = e.size ?? 0;
    while (left > 0) {
      const buf = Buffer.alloc(Math.min(CHUNK, left));
      const read = [0];
      check(await callAsync(C.g_input_stream_read_all, input[0], buf, buf.length, read, null, err), err, `reading ${e.path}`, repo.path);
      const n = Number(read[0]);
      if (n === 0) break;
      left -= n;
      yield buf.subarray(0, n);
    }
  } finally {
    unref(input[0]);
  }
}
