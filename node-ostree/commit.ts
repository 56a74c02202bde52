import { resolve as resolvePath } from 'node:path';
import { AT_FDCWD, C, type Ptr } from './ffi/libs.js';
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
  /** uid/gid 0 and modes reduced to 0755/0644 (what bare-user-only needs). */
  canonicalPermissions?: boolean;
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

/** Runs `write` into a fresh mutable tree inside a transaction, then writes the tree and the commit. */
export async function inTransaction(repo: Repo, what: string, options: CommitOptions, write: Writer, devino?: DevinoCache): Promise<CommitResult> {
  const flags = (options.skipXattrs ? MODIFIER.skipXattrs : 0) | (options.canonicalPermissions ? MODIFIER.canonicalPermissions : 0) | (devino ? MODIFIER.devinoCanonical : 0);
  const modifier = C.ostree_repo_commit_modifier_new(flags, null, null, null);
  if (devino) C.ostree_repo_commit_modifier_set_devino_cache(modifier, devino.ptr);
  const mtree = C.ostree_mutable_tree_new();
  let root: Ptr = null;
  let open = false;
  try {
    const err = errorOut();
    check(await callAsync(C.ostree_repo_prepare_transaction, repo.ptr, [0], null, err), err, 'starting a transaction', repo.path);
    open = true;
    await write(mtree, modifier);
    const rootOut: Ptr[] = [null];
    check(await callAsync(C.ostree_repo_write_mtree, repo.ptr, mtree, rootOut, null, err), err, 'writing the tree', repo.path);
    root = rootOut[0];
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
    const stats = [{}] as Record<string, number | bigint>[];
    check(await callAsync(C.ostree_repo_commit_transaction, repo.ptr, stats, null, err), err, 'committing the transaction', repo.path);
    open = false;
    const s = stats[0]!;
    return {
      checksum,
      stats: {
        metadataWritten: Number(s.metadata_objects_written),
        contentWritten: Number(s.content_objects_written),
        contentBytesWritten: Number(s.content_bytes_written),
        devinoCacheHits: Number(s.devino_cache_hits),
      },
    };
  } catch (e) {
    if (open) {
      const err = errorOut();
      C.ostree_repo_abort_transaction(repo.ptr, null, err);
      if (err[0]) C.g_error_free(err[0]);
    }
    throw e instanceof OstreeError ? new OstreeError(`${what}: ${e.operation}`, e.path, e.domain, e.gcode, e.gmessage) : e;
  } finally {
    unref(root, mtree);
    C.ostree_repo_commit_modifier_unref(modifier);
  }
}
