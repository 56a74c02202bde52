import { C, type Ptr } from './ffi/libs.js';
import { callAsync, check, errorOut, unref } from './ffi/call.js';
import { decodeCommit, decodeDirMeta, decodeDirTree, type Commit } from './objects.js';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { commitDirectory, commitFromChecksums, writeMetadataObject, type CommitOptions, type CommitResult } from './commit.js';
import { encodeVariant } from './gvariant.js';
import { OstreeError } from './errors.js';
import type { Repo } from './repo.js';

/**
 * Reading what commits hold, and combining them: list a tree, cat a file, diff two commits,
 * and the metadata-only union of several commits (no file content is read or copied: the new
 * tree points at the layers' existing objects).
 *
 * Trees are walked by decoding dirtree/dirmeta objects here (one FFI call per directory), so a
 * walk of a whole rootfs takes milliseconds to a few hundred.
 *
 * @example
 * const { checksum, conflicts } = await commitUnion(repo, ['deb/bash', 'deb/coreutils'], { ref: 'image/union' });
 */
export interface TreeEntry {
  /** Absolute path inside the commit ('/usr/bin/bash'); directories too. */
  path: string;
  type: 'file' | 'directory';
  /** Content checksum for files, dirtree checksum for directories. */
  checksum: string;
  /** Directories: their dirmeta checksum. */
  meta?: string;
  /** With `details`: mode (including the file type bits), owner, size, symlink target. */
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  symlinkTarget?: string;
}

export interface CommitInfo extends Commit {
  checksum: string;
}

/** The decoded commit object. */
export function readCommit(repo: Repo, rev: string): CommitInfo {
  const checksum = repo.resolve(rev);
  return { ...decodeCommit(repo.loadVariant('commit', checksum)), checksum };
}

/** Every entry under `path` (default the whole tree), depth-first in name order. */
export function listTree(repo: Repo, rev: string, options: { path?: string; details?: boolean } = {}): TreeEntry[] {
  const commit = readCommit(repo, rev);
  const start = locate(repo, commit, options.path ?? '/');
  const out: TreeEntry[] = [];
  const walk = (dir: string, contents: string): void => {
    const tree = decodeDirTree(repo.loadVariant('dirTree', contents));
    const entries: TreeEntry[] = [
      ...tree.files.map((f) => ({ path: join(dir, f.name), type: 'file' as const, checksum: f.checksum })),
      ...tree.dirs.map((d) => ({ path: join(dir, d.name), type: 'directory' as const, checksum: d.contents, meta: d.meta })),
    ].sort((a, b) => (a.path < b.path ? -1 : 1));
    for (const e of entries) {
      if (options.details) Object.assign(e, e.type === 'file' ? fileDetails(repo, e.checksum) : dirDetails(repo, e.meta!));
      out.push(e);
      if (e.type === 'directory') walk(e.path, e.checksum);
    }
  };
  if (start.type === 'file') {
    out.push(options.details ? { ...start, ...fileDetails(repo, start.checksum) } : start);
  } else {
    walk(start.path === '/' ? '' : start.path, start.checksum);
  }
  return out;
}

/** A file's bytes (a symlink gives an error naming its target). */
export async function catFile(repo: Repo, rev: string, path: string): Promise<Buffer> {
  const commit = readCommit(repo, rev);
  const entry = locate(repo, commit, path);
  if (entry.type !== 'file') throw new OstreeError(`reading ${path}`, repo.path, 'ota', 0, 'it is a directory');
  const input: Ptr[] = [null];
  const info: Ptr[] = [null];
  const err = errorOut();
  check(await callAsync(C.ostree_repo_load_file, repo.ptr, entry.checksum, input, info, null, null, err), err, `loading ${path}`, repo.path);
  try {
    if (!input[0]) {
      const target = C.g_file_info_get_symlink_target(info[0]) as string | null;
      throw new OstreeError(`reading ${path}`, repo.path, 'ota', 0, `it is a symbolic link to ${target}`);
    }
    const size = Number(C.g_file_info_get_size(info[0]));
    // GLib refuses a NULL buffer, which is what an empty one becomes.
    if (size === 0) return Buffer.alloc(0);
    const buf = Buffer.alloc(size);
    const read = [0];
    check(await callAsync(C.g_input_stream_read_all, input[0], buf, size, read, null, err), err, `reading ${path}`, repo.path);
    return buf.subarray(0, Number(read[0]));
  } finally {
    unref(input[0], info[0]);
  }
}

export interface TreeDiff {
  added: string[];
  removed: string[];
  /** Files whose content or metadata changed, and paths that changed type. */
  modified: string[];
}

/** What changed between two commits; identical subtrees are skipped by checksum, unread. */
export function diffCommits(repo: Repo, from: string, to: string): TreeDiff {
  const a = readCommit(repo, from);
  const b = readCommit(repo, to);
  const diff: TreeDiff = { added: [], removed: [], modified: [] };
  const everything = (dir: string, contents: string, into: string[]) => {
    const t = decodeDirTree(repo.loadVariant('dirTree', contents));
    for (const f of t.files) into.push(join(dir, f.name));
    for (const d of t.dirs) {
      into.push(join(dir, d.name));
      everything(join(dir, d.name), d.contents, into);
    }
  };
  const walk = (dir: string, ca: string, cb: string) => {
    if (ca === cb) return;
    const ta = decodeDirTree(repo.loadVariant('dirTree', ca));
    const tb = decodeDirTree(repo.loadVariant('dirTree', cb));
    const fa = new Map(ta.files.map((f) => [f.name, f.checksum]));
    const fb = new Map(tb.files.map((f) => [f.name, f.checksum]));
    const da = new Map(ta.dirs.map((d) => [d.name, d]));
    const db = new Map(tb.dirs.map((d) => [d.name, d]));
    for (const [name, cs] of fb) {
      const p = join(dir, name);
      if (fa.has(name)) {
        if (fa.get(name) !== cs) diff.modified.push(p);
      } else if (da.has(name)) {
        diff.modified.push(p);
        everything(p, da.get(name)!.contents, diff.removed);
      } else diff.added.push(p);
    }
    for (const [name, d] of db) {
      const p = join(dir, name);
      const old = da.get(name);
      if (old) {
        if (old.meta !== d.meta) diff.modified.push(p);
        walk(p, old.contents, d.contents);
      } else if (fa.has(name)) {
        diff.modified.push(p);
        everything(p, d.contents, diff.added);
      } else {
        diff.added.push(p);
        everything(p, d.contents, diff.added);
      }
    }
    for (const [name] of fa) if (!fb.has(name) && !db.has(name)) diff.removed.push(join(dir, name));
    for (const [name, d] of da) {
      if (!db.has(name) && !fb.has(name)) {
        diff.removed.push(join(dir, name));
        everything(join(dir, name), d.contents, diff.removed);
      }
    }
  };
  walk('', a.rootContents, b.rootContents);
  for (const k of ['added', 'removed', 'modified'] as const) diff[k].sort();
  return diff;
}

export interface UnionConflict {
  path: string;
  /** Indexes (into the `revs` given) of the layers that hold this path, in order; the last wins. */
  layers: number[];
  /** True when every layer has the same content and metadata there (harmless, e.g. Multi-Arch: same). */
  identical: boolean;
}

/**
 * Commits the union of several commits, later layers winning, touching metadata only. Files
 * that more than one layer holds are reported as conflicts for the caller to judge (dpkg would
 * refuse them without Replaces); a file where another layer has a directory is an error.
 */
export interface UnionOptions extends CommitOptions {
  /**
   * Merged /usr: top-level bin, sbin, lib, lib32, lib64 and libx32 of every layer go into
   * /usr/<name>, and the root gets the symlinks (`/bin -> usr/bin` ...), as on a merged-/usr
   * Debian system where dpkg unpacks /bin/sh through the symlink. Conflicts are judged on the
   * merged paths (a package's /bin/x and another's /usr/bin/x do clash).
   */
  usrMerge?: boolean;
  /**
   * Files to rename within their directory after the merge (path -> new path), e.g. conffiles to
   * `<path>.dpkg-new`, as dpkg leaves them unpacked. Paths are final (after usrMerge).
   */
  renames?: Map<string, string>;
}

export async function commitUnion(repo: Repo, revs: string[], options: UnionOptions = {}): Promise<CommitResult & { conflicts: UnionConflict[] }> {
  const checksums = revs.map((r) => repo.resolve(r));
  const layers = checksums.map((cs) => layerRoot(repo, decodeCommit(repo.loadVariant('commit', cs)), options.usrMerge ?? false));
  const { conflicts, typeClashes } = findConflicts(repo, layers);
  // libostree cannot put a file where a lower layer has a directory (or the reverse): say where, before writing anything.
  if (typeClashes.length > 0) {
    const first = typeClashes[0]!;
    throw new OstreeError(
      `committing the union of ${revs.length} commits`,
      repo.path,
      'ota',
      0,
      `${first.path} is a directory in ${first.dirLayers.map((i) => revs[i]).join(', ')} and a file in ${first.fileLayers.map((i) => revs[i]).join(', ')}${typeClashes.length > 1 ? ` (and ${typeClashes.length - 1} more such paths)` : ''}`,
    );
  }
  const merged = layers[0]!;
  for (const layer of layers.slice(1)) mergeInto(repo, merged, layer);
  for (const [from, to] of options.renames ?? []) renameFile(repo, merged, from, to);
  const links = options.usrMerge ? await usrMergeLinks(repo, merged) : new Map<string, string>();
  for (const [name, cs] of links) merged.files.set(name, cs);
  let root = { contents: '', meta: merged.meta };
  const result = await commitFromChecksums(
    repo,
    `committing the union of ${revs.length} commits`,
    '',
    '',
    options,
    async () => {
      root = { contents: await writeMerged(repo, merged), meta: merged.meta };
    },
    () => root,
  );
  return { ...result, conflicts };
}

interface TypeClash {
  path: string;
  dirLayers: number[];
  fileLayers: number[];
}

function findConflicts(repo: Repo, layers: Merged[]): { conflicts: UnionConflict[]; typeClashes: TypeClash[] } {
  // path -> [layer, checksum] for every non-directory entry, and directories by path.
  const files = new Map<string, { layer: number; checksum: string }[]>();
  const dirs = new Map<string, number[]>();
  for (const [layer, rootNode] of layers.entries()) {
    const walk = (dir: string, node: Lazy | Merged) => {
      const m = isMerged(node) ? node : expand(repo, node);
      for (const [name, checksum] of m.files) {
        const p = join(dir, name);
        const list = files.get(p) ?? [];
        list.push({ layer, checksum });
        files.set(p, list);
      }
      for (const [name, child] of m.dirs) {
        const p = join(dir, name);
        const list = dirs.get(p) ?? [];
        list.push(layer);
        dirs.set(p, list);
        walk(p, child);
      }
    };
    walk('', rootNode);
  }
  const conflicts: UnionConflict[] = [];
  const typeClashes: TypeClash[] = [];
  for (const [path, list] of files) {
    const asDir = dirs.get(path) ?? [];
    if (asDir.length > 0) typeClashes.push({ path, dirLayers: asDir, fileLayers: [...new Set(list.map((x) => x.layer))] });
    if (list.length < 2 && asDir.length === 0) continue;
    const layers = [...new Set([...list.map((x) => x.layer), ...asDir])].sort((a, b) => a - b);
    conflicts.push({ path, layers, identical: asDir.length === 0 && list.every((x) => x.checksum === list[0]!.checksum) });
  }
  typeClashes.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { conflicts: conflicts.sort((a, b) => (a.path < b.path ? -1 : 1)), typeClashes };
}

/**
 * The union computed from the layers' dirtrees: a directory only one layer has (or identical in
 * all) keeps its dirtree checksum and is never read; directories several layers share are merged
 * entry by entry, later layers winning for files and for the directory's own metadata, exactly as
 * libostree's write_directory_to_mtree merges them.
 */
interface Lazy {
  contents: string;
  meta: string;
}
interface Merged {
  meta: string;
  files: Map<string, string>;
  dirs: Map<string, Lazy | Merged>;
}

function isMerged(x: Lazy | Merged): x is Merged {
  return 'files' in x;
}

function expand(repo: Repo, dir: Lazy): Merged {
  const t = decodeDirTree(repo.loadVariant('dirTree', dir.contents));
  return {
    meta: dir.meta,
    files: new Map(t.files.map((f) => [f.name, f.checksum])),
    dirs: new Map(t.dirs.map((d) => [d.name, { contents: d.contents, meta: d.meta } as Lazy])),
  };
}

function mergeInto(repo: Repo, node: Merged, layer: Lazy | Merged): void {
  node.meta = layer.meta;
  const m = isMerged(layer) ? layer : expand(repo, layer);
  for (const [name, checksum] of m.files) node.files.set(name, checksum);
  for (const [name, incoming] of m.dirs) {
    const have = node.dirs.get(name);
    if (!have || (!isMerged(have) && !isMerged(incoming) && have.contents === incoming.contents)) node.dirs.set(name, incoming);
    else {
      const target = isMerged(have) ? have : expand(repo, have);
      mergeInto(repo, target, incoming);
      node.dirs.set(name, target);
    }
  }
}

/** Moves a file entry to a new name in the same directory of the merged tree. */
function renameFile(repo: Repo, root: Merged, from: string, to: string): void {
  const parts = from.split('/').filter(Boolean);
  const toParts = to.split('/').filter(Boolean);
  const name = parts.pop()!;
  const newName = toParts.pop()!;
  if (parts.join('/') !== toParts.join('/')) throw new Error(`rename ${from} -> ${to} changes directory, this is a bug`);
  let node = root;
  for (const p of parts) {
    const child = node.dirs.get(p);
    if (!child) throw new OstreeError('renaming in the union', repo.path, 'g-io-error-quark', 1, `No such directory: ${from}`);
    const m = isMerged(child) ? child : expand(repo, child);
    node.dirs.set(p, m);
    node = m;
  }
  const cs = node.files.get(name);
  if (cs === undefined) throw new OstreeError('renaming in the union', repo.path, 'g-io-error-quark', 1, `No such file: ${from}`);
  node.files.delete(name);
  node.files.set(newName, cs);
}

const USR_MERGED = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

/** A layer's root as a merge node; with usrMerge, its top-level bin/sbin/lib* moved under usr/. */
function layerRoot(repo: Repo, commit: Commit, usrMerge: boolean): Merged {
  const root = expand(repo, { contents: commit.rootContents, meta: commit.rootMeta });
  if (!usrMerge) return root;
  for (const name of USR_MERGED) {
    const dir = root.dirs.get(name);
    if (!dir) continue;
    root.dirs.delete(name);
    const usrHave = root.dirs.get('usr');
    // A layer with /bin but no /usr gets a /usr with the root's metadata.
    const usr: Merged = usrHave ? (isMerged(usrHave) ? usrHave : expand(repo, usrHave)) : { meta: root.meta, files: new Map(), dirs: new Map() };
    const existing = usr.dirs.get(name);
    if (existing) {
      const target = isMerged(existing) ? existing : expand(repo, existing);
      mergeInto(repo, target, dir);
      usr.dirs.set(name, target);
    } else {
      usr.dirs.set(name, dir);
    }
    root.dirs.set('usr', usr);
  }
  return root;
}

/** Root symlinks `bin -> usr/bin` ... for the merged directories the union has, as root-owned content objects. */
async function usrMergeLinks(repo: Repo, merged: Merged): Promise<Map<string, string>> {
  const usr = merged.dirs.get('usr');
  const usrNode = usr ? (isMerged(usr) ? usr : expand(repo, usr)) : undefined;
  const names = usrNode ? USR_MERGED.filter((n) => usrNode.dirs.has(n)) : [];
  const links = new Map<string, string>();
  if (names.length === 0) return links;
  const dir = await mkdtemp(joinPath(tmpdir(), 'ota-usrmerge-'));
  try {
    for (const n of names) await symlink(`usr/${n}`, joinPath(dir, n));
    const { checksum } = await commitDirectory(repo, dir, { owner: { uid: 0, gid: 0 } });
    const commit = decodeCommit(repo.loadVariant('commit', checksum));
    for (const f of decodeDirTree(repo.loadVariant('dirTree', commit.rootContents)).files) links.set(f.name, f.checksum);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return links;
}

const byBytes = ([a]: [string, unknown], [b]: [string, unknown]) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Writes the merged directories bottom-up; returns the root's dirtree checksum. */
async function writeMerged(repo: Repo, node: Merged): Promise<string> {
  const dirs: [string, Buffer, Buffer][] = [];
  for (const [name, child] of [...node.dirs].sort(byBytes)) {
    const contents = isMerged(child) ? await writeMerged(repo, child) : child.contents;
    dirs.push([name, Buffer.from(contents, 'hex'), Buffer.from(child.meta, 'hex')]);
  }
  const files = [...node.files].sort(byBytes).map(([name, cs]) => [name, Buffer.from(cs, 'hex')]);
  return writeMetadataObject(repo, 'dirTree', encodeVariant('(a(say)a(sayay))', [files, dirs]));
}

function locate(repo: Repo, commit: Commit, path: string): TreeEntry {
  const parts = path.split('/').filter(Boolean);
  let contents = commit.rootContents;
  let meta = commit.rootMeta;
  let cur = '';
  for (const [i, name] of parts.entries()) {
    const t = decodeDirTree(repo.loadVariant('dirTree', contents));
    cur = `${cur}/${name}`;
    const d = t.dirs.find((x) => x.name === name);
    if (d) {
      contents = d.contents;
      meta = d.meta;
      continue;
    }
    const f = t.files.find((x) => x.name === name);
    if (f && i === parts.length - 1) return { path: cur, type: 'file', checksum: f.checksum };
    throw new OstreeError(`looking up ${path}`, repo.path, 'g-io-error-quark', 1, `No such file or directory: ${cur}`);
  }
  return { path: cur || '/', type: 'directory', checksum: contents, meta };
}

function fileDetails(repo: Repo, checksum: string): Partial<TreeEntry> {
  const input: Ptr[] = [null];
  const info: Ptr[] = [null];
  const err = errorOut();
  check(C.ostree_repo_load_file(repo.ptr, checksum, input, info, null, null, err), err, `loading file ${checksum}`, repo.path);
  try {
    const mode = C.g_file_info_get_attribute_uint32(info[0], 'unix::mode') as number;
    const out: Partial<TreeEntry> = {
      mode,
      uid: C.g_file_info_get_attribute_uint32(info[0], 'unix::uid') as number,
      gid: C.g_file_info_get_attribute_uint32(info[0], 'unix::gid') as number,
      size: Number(C.g_file_info_get_size(info[0])),
    };
    if ((mode & 0o170000) === 0o120000) out.symlinkTarget = C.g_file_info_get_symlink_target(info[0]) as string;
    return out;
  } finally {
    unref(input[0], info[0]);
  }
}

function dirDetails(repo: Repo, meta: string): Partial<TreeEntry> {
  const m = decodeDirMeta(repo.loadVariant('dirMeta', meta));
  return { mode: m.mode, uid: m.uid, gid: m.gid };
}

function join(dir: string, name: string): string {
  return `${dir}/${name}`;
}
