import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * What is on disk under a folder, to prove that something did not change it: each entry's path
 * (folders end in `/`), kind, mode and the SHA-256 of a file's content (read as a stream, so a
 * large object costs no memory). The two views below differ only in what they compare.
 */
interface TreeEntry {
  path: string;
  kind: 'dir' | 'file' | 'other';
  mode: number;
  sha256: string;
}

async function treeEntries(dir: string, options: { missingIsEmpty: boolean }): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    const list = options.missingIsEmpty ? await readdir(d, { withFileTypes: true }).catch(() => []) : await readdir(d, { withFileTypes: true });
    for (const e of list) {
      const p = join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      const mode = (await lstat(p)).mode;
      if (e.isDirectory()) {
        out.push({ path: `${r}/`, kind: 'dir', mode, sha256: '' });
        await walk(p, r);
      } else out.push({ path: r, kind: e.isFile() ? 'file' : 'other', mode, sha256: e.isFile() ? await sha256File(p) : '' });
    }
  };
  await walk(dir, '');
  return out;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path) as AsyncIterable<Buffer>) h.update(c);
  return h.digest('hex');
}

/** Every file under `dir` with its mode and SHA-256: equal snapshots mean nothing on disk changed. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await treeEntries(dir, { missingIsEmpty: false })) out[e.path] = e.kind === 'dir' ? e.mode.toString(8) : `${e.mode.toString(8)} ${e.sha256}`;
  return out;
}

/**
 * Every entry under `dir` with the SHA-256 of a file's content (a folder '', a symlink or
 * anything else 'other'), modes left out; a folder that does not exist is empty. To prove that
 * nothing changed, or that only the files expected did.
 */
export async function hashTree(dir: string): Promise<Map<string, string>> {
  return new Map((await treeEntries(dir, { missingIsEmpty: true })).map((e) => [e.path, e.kind === 'other' ? 'other' : e.sha256]));
}
