import { resolve as resolvePath } from 'node:path';
import { AT_FDCWD, C, CommitFilter, koffi, type Ptr } from './ffi/libs.js';
import { callAsync, check, errorOut, takeString, unref, variantFromBytes } from './ffi/call.js';
import { OstreeError } from './errors.js';
import type { Repo } from './repo.js';

/**
 * Writing commits: from a directory, from a tar stream (a .deb's data member), or from a
 * hardlinked checkout (reusing the checksums of unchanged files through a devino cache). Each
 * write is one transaction: on any error it is aborted and the repository is left as it was
 * (objects written so far are unreferenced and go at the next prune).
 *
 * @example
 * const { checksum } = await commitDirectory(repo, '/tmp/rootfs', { ref: 'image/arm64', timestamp: 1700000000 });
 */
export interface CommitOptions {
  /** Ref to point at the new commit, in the same transaction. */
  ref?: string;
  /** Parent commit (checksum or ref); default none, so equal trees give equal commits. */
  parent?: string;
  subject?: string;
  body?: string;
  /** Seconds since the epoch; default 0, for reproducible commits. */
  timestamp?: number;
  /** Commit metadata, serialized a{sv} (see gvariant.ts `encodeMetadata`). */
  metadata?: Buffer;
  /** uid/gid 0 and modes masked with 0755: no setuid/setgid/sticky, no group/other write (what bare-user-only needs). */
  canonicalPermissions?: boolean;
  /** Record every file and directory as owned by this uid/gid (modes kept), like `ostree commit --owner-uid/--owner-gid`. */
  owner?: { uid: number; gid: number };
  skipXattrs?: boolean;
}

export interface CommitResult {
  checksum: string;
  stats: { metadataWritten: number; contentWritten: number; contentBytesWritten: number; devinoCacheHits: number };
}

const MODIFIER = { skipXattrs: 1 << 0, canonicalPermissions: 1 << 2, devinoCanonical: 1 << 5 };

/** Commits the contents of a directory. */
export async function commitDirectory(repo: Repo, dir: string, options: CommitOptions = {}): Promise<CommitResult> {
  const abs = resolvePath(dir);
  return inTransaction(repo, `committing ${abs}`, options, async (mtree, modifier) => {
    const err = errorOut();
    check(await callAsync(C.ostree_repo_write_dfd_to_mtree, repo.ptr, AT_FDCWD, abs, mtree, modifier, null, err), err, 'reading the directory', abs);
  });
}

export interface TarOptions extends CommitOptions {
  /** Create missing parent directories (root-owned, 0755), as a .deb's data.tar may lack some. */
  autocreateParents?: boolean;
  /** Where the bytes came from, for messages. */
  source?: string;
}

/**
 * Commits a tar archive held in memory, compressed or not (gzip, xz, zstd: libarchive detects
 * the filter), without unpacking it to disk. Ownership and modes come from the tar headers.
 */
export async function commitTar(repo: Repo, tar: Buffer, options: TarOptions = {}): Promise<CommitResult> {
  const where = options.source ?? 'tar stream';
  return inTransaction(repo, `committing ${where}`, options, async (mtree, modifier) => {
    const a = C.archive_read_new();
    try {
      C.archive_read_support_filter_all(a);
      C.archive_read_support_format_tar(a);
      C.archive_read_support_format_gnutar(a);
      if ((C.archive_read_open_memory(a, tar, tar.length) as number) !== 0) {
        throw new OstreeError('opening the tar stream', where, 'archive', 0, String(C.archive_error_string(a)));
      }
      const opts = { flags: (options.autocreateParents ? 1 << 1 : 0) | 1 /* ignore unsupported content (device nodes) */, unused_uint: [0, 0, 0, 0, 0, 0, 0, 0], translate_pathname: null, translate_pathname_user_data: null, unused_ptrs: [null, null, null, null, null, null] };
      const err = errorOut();
      // `tar` stays referenced by this closure until the import returns: libarchive reads it in place.
      check(await callAsync(C.ostree_repo_import_archive_to_mtree, repo.ptr, opts, a, mtree, modifier, null, err), err, 'importing the tar stream', where);
    } finally {
      C.archive_read_free(a);
    }
  });
}

/**
 * Commits a checkout made with `checkout(..., { hardlink: true, devino })`: files still
 * hardlinked to the repository are recognised by device and inode and not read or hashed again.
 */
export async function commitHardlinkedCheckout(repo: Repo, dir: string, devino: DevinoCache, options: CommitOptions = {}): Promise<CommitResult> {
  const abs = resolvePath(dir);
  return inTransaction(
    repo,
    `committing ${abs}`,
    options,
    async (mtree, modifier) => {
      const err = errorOut();
      check(await callAsync(C.ostree_repo_write_dfd_to_mtree, repo.ptr, AT_FDCWD, abs, mtree, modifier, null, err), err, 'reading the checkout', abs);
    },
    devino,
  );
}

/** Maps (device, inode) of checked-out files to their object checksums. */
export class DevinoCache {
  private handle: Ptr = C.ostree_repo_devino_cache_new();
  get ptr(): Ptr {
    if (!this.handle) throw new Error('DevinoCache used after free(), this is a bug');
    return this.handle;
  }
  free(): void {
    if (this.handle) C.ostree_repo_devino_cache_unref(this.handle);
    this.handle = null;
  }
}

type Writer = (mtree: Ptr, modifier: Ptr) => Promise<void>;

type Stats = CommitResult['stats'];
const NO_STATS: Stats = { metadataWritten: 0, contentWritten: 0, contentBytesWritten: 0, devinoCacheHits: 0 };

/** Repositories with a batch() transaction open: their commits join it instead of opening their own. */
const batches = new WeakSet<Repo>();

/**
 * Runs several commits (of this Repo object) in one transaction: their objects are synced once,
 * at the end, and the refs they set appear together, or not at all when `fn` throws. Commits
 * inside report zero stats; the batch's totals are returned here. For bulk imports (a build's
 * per-deb commits), this saves a sync per commit. Other Repo objects on the same repository
 * may run their own transactions at the same time.
 *
 * @example
 * const { stats } = await batch(repo, async () => {
 *   for (const deb of debs) await commitTar(repo, deb.data.bytes, { ref: `deb/${deb.sha256}` });
 * });
 */
export async function batch<T>(repo: Repo, fn: () => Promise<T>): Promise<{ result: T; stats: Stats }> {
  if (batches.has(repo)) throw new Error('batch() inside batch() on the same Repo, this is a bug');
  let stats: Stats = NO_STATS;
  const result = await transaction(repo, 'a batch of commits', async () => {
    batches.add(repo);
    try {
      return await fn();
    } finally {
      batches.delete(repo);
    }
  }, (s) => (stats = s));
  return { result, stats };
}

/** prepare -> body -> commit, or abort on error; joins an open batch() instead. */
async function transaction<T>(repo: Repo, what: string, body: () => Promise<T>, onStats?: (s: Stats) => void): Promise<T> {
  if (batches.has(repo)) return body();
  const err = errorOut();
  check(await callAsync(C.ostree_repo_prepare_transaction, repo.ptr, [0], null, err), err, 'starting a transaction', repo.path);
  try {
    const result = await body();
    const stats = [{}] as Record<string, number | bigint>[];
    check(await callAsync(C.ostree_repo_commit_transaction, repo.ptr, stats, null, err), err, 'committing the transaction', repo.path);
    const s = stats[0]!;
    onStats?.({
      metadataWritten: Number(s.metadata_objects_written),
      contentWritten: Number(s.content_objects_written),
      contentBytesWritten: Number(s.content_bytes_written),
      devinoCacheHits: Number(s.devino_cache_hits),
    });
    return result;
  } catch (e) {
    const abortErr = errorOut();
    C.ostree_repo_abort_transaction(repo.ptr, null, abortErr);
    if (abortErr[0]) C.g_error_free(abortErr[0]);
    throw e instanceof OstreeError ? new OstreeError(`${what}: ${e.operation}`, e.path, e.domain, e.gcode, e.gmessage) : e;
  }
}

/** Writes the commit object for a written root (`ostree_repo_write_mtree`'s result) and sets the ref, inside the open transaction. */
async function writeCommitObject(repo: Repo, root: Ptr, options: CommitOptions): Promise<string> {
  const err = errorOut();
  const parent = options.parent ? repo.resolve(options.parent) : null;
  const metadata = options.metadata ? variantFromBytes('a{sv}', options.metadata) : null;
  const out: Ptr[] = [null];
  try {
    const ok = await callAsync(C.ostree_repo_write_commit_with_time, repo.ptr, parent, options.subject ?? null, options.body ?? null, metadata, root, BigInt(options.timestamp ?? 0), out, null, err);
    check(ok, err, 'writing the commit', repo.path);
  } finally {
    if (metadata) C.g_variant_unref(metadata);
  }
  const checksum = takeString(out[0])!;
  if (options.ref) C.ostree_repo_transaction_set_ref(repo.ptr, null, options.ref, checksum);
  return checksum;
}

/** Writes a mutable tree and its commit; the mtree is consumed (released). */
async function commitMtree(repo: Repo, mtree: Ptr, options: CommitOptions): Promise<string> {
  let root: Ptr = null;
  try {
    const rootOut: Ptr[] = [null];
    const err = errorOut();
    check(await callAsync(C.ostree_repo_write_mtree, repo.ptr, mtree, rootOut, null, err), err, 'writing the tree', repo.path);
    root = rootOut[0];
    return await writeCommitObject(repo, root, options);
  } finally {
    unref(root, mtree);
  }
}

/** Runs `write` into a fresh mutable tree inside a transaction (or the open batch), then writes the tree and the commit. */
export async function inTransaction(repo: Repo, what: string, options: CommitOptions, write: Writer, devino?: DevinoCache): Promise<CommitResult> {
  const flags = (options.skipXattrs ? MODIFIER.skipXattrs : 0) | (options.canonicalPermissions ? MODIFIER.canonicalPermissions : 0) | (devino ? MODIFIER.devinoCanonical : 0);
  // No modifier at all when nothing needs modifying: with one, libostree must walk a layer's
  // tree file by file; without, it can copy dirtree checksums (metadata only).
  // An owner override is a filter libostree calls per file; koffi runs it on the main thread
  // (free while the commit runs on a worker), so it costs one hop per file.
  const owner = options.owner;
  const filter = owner
    ? koffi.register((_repo: Ptr, _path: string, info: Ptr) => {
        C.g_file_info_set_attribute_uint32(info, 'unix::uid', owner.uid);
        C.g_file_info_set_attribute_uint32(info, 'unix::gid', owner.gid);
        return 0;
      }, koffi.pointer(CommitFilter))
    : null;
  const modifier = flags !== 0 || devino || filter ? C.ostree_repo_commit_modifier_new(flags, filter, null, null) : null;
  if (devino) C.ostree_repo_commit_modifier_set_devino_cache(modifier, devino.ptr);
  let stats = NO_STATS;
  try {
    const checksum = await transaction(repo, what, async () => {
      const mtree = C.ostree_mutable_tree_new();
      try {
        await write(mtree, modifier);
      } catch (e) {
        unref(mtree);
        throw e;
      }
      return commitMtree(repo, mtree, options);
    }, (s) => (stats = s));
    return { checksum, stats };
  } finally {
    if (modifier) C.ostree_repo_commit_modifier_unref(modifier);
    if (filter) koffi.unregister(filter);
  }
}

/**
 * Commits a tree whose root dirtree and dirmeta objects are already in the repository (written
 * with `writeMetadataObject`), e.g. a union computed from the layers' dirtrees.
 */
export async function commitFromChecksums(
  repo: Repo,
  what: string,
  rootContents: string,
  rootMeta: string,
  options: CommitOptions,
  write?: () => Promise<void>,
  /** The root when `write` computes it (it runs inside the transaction). */
  rootAfterWrite?: () => { contents: string; meta: string },
): Promise<CommitResult> {
  let stats = NO_STATS;
  const checksum = await transaction(repo, what, async () => {
    if (write) await write();
    const root = rootAfterWrite ? rootAfterWrite() : { contents: rootContents, meta: rootMeta };
    const mtree = C.ostree_mutable_tree_new_from_checksum(repo.ptr, root.contents, root.meta);
    return commitMtree(repo, mtree, options);
  }, (s) => (stats = s));
  return { checksum, stats };
}

/**
 * Writes a commit of a root that is already in the repository (its dirtree and dirmeta), with
 * the given parent, subject, metadata and timestamp: e.g. a published copy of a built commit,
 * chained to the previously published one. Same inputs give the same checksum.
 *
 * @example
 * const { checksum } = await writeCommit(repo, { contents: c.rootContents, meta: c.rootMeta }, { parent, metadata, timestamp: c.timestamp });
 */
export async function writeCommit(repo: Repo, root: { contents: string; meta: string }, options: CommitOptions = {}): Promise<CommitResult> {
  // libostree would write a commit pointing at missing objects without a word.
  for (const [type, checksum] of [['dirTree', root.contents], ['dirMeta', root.meta]] as const) {
    if (!/^[0-9a-f]{64}$/.test(checksum) || !repo.hasObject(type, checksum)) throw new OstreeError('writing a commit', repo.path, 'ota', 0, `no ${type} ${checksum} in the repository`);
  }
  return commitFromChecksums(repo, `writing a commit of tree ${root.contents.slice(0, 12)}`, root.contents, root.meta, options);
}

/** Writes a serialized metadata object (dirtree, dirmeta) and returns its checksum; must run inside a transaction. */
export async function writeMetadataObject(repo: Repo, type: 'dirTree' | 'dirMeta', bytes: Buffer): Promise<string> {
  const v = variantFromBytes(type === 'dirTree' ? '(a(say)a(sayay))' : '(uuua(ayay))', bytes);
  try {
    const out: Ptr[] = [null];
    const err = errorOut();
    check(await callAsync(C.ostree_repo_write_metadata, repo.ptr, type === 'dirTree' ? 2 : 3, null, v, out, null, err), err, `writing a ${type} object`, repo.path);
    const hex = Buffer.from(koffi.decode(out[0], koffi.array('uint8', 32)) as number[]).toString('hex');
    C.g_free(out[0]);
    return hex;
  } finally {
    C.g_variant_unref(v);
  }
}
