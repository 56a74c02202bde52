import { rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { AT_FDCWD, C, ObjectType, RepoMode, koffi, type Ptr } from './ffi/libs.js';
import { callAsync, check, errorOut, takeString, takeVariantBytes, variantFromBytes, withHashTableKeys } from './ffi/call.js';
import { OstreeError } from './errors.js';

export type RepoModeName = keyof typeof RepoMode;

/**
 * An OSTree repository. Open or create one, then read and write through it; `close()` releases
 * the libostree object (a Repo is unusable after). Metadata reads are synchronous (they are
 * small and fast); anything that walks or writes much is async and runs off the event loop.
 *
 * @example
 * const repo = await Repo.create('/tmp/repo', 'bare-user');
 * const head = repo.resolve('image/arm64');
 * repo.close();
 */
export class Repo {
  private handle: Ptr;

  private constructor(
    handle: Ptr,
    readonly path: string,
  ) {
    this.handle = handle;
  }

  /** Creates (or opens, if it exists with the same mode) a repository at `path`. */
  static async create(path: string, mode: RepoModeName, options: { disableFsync?: boolean } = {}): Promise<Repo> {
    const abs = resolvePath(path);
    await mkdir(abs, { recursive: true });
    const err = errorOut();
    const h = await callAsync<Ptr>(C.ostree_repo_create_at, AT_FDCWD, abs, RepoMode[mode], null, null, err);
    check(h, err, `creating a ${mode} repository`, abs);
    const repo = new Repo(h, abs);
    if (options.disableFsync) C.ostree_repo_set_disable_fsync(h, 1);
    return repo;
  }

  static async open(path: string, options: { disableFsync?: boolean } = {}): Promise<Repo> {
    const abs = resolvePath(path);
    const err = errorOut();
    const h = await callAsync<Ptr>(C.ostree_repo_open_at, AT_FDCWD, abs, null, err);
    check(h, err, 'opening the repository', abs);
    if (options.disableFsync) C.ostree_repo_set_disable_fsync(h, 1);
    return new Repo(h, abs);
  }

  /** The libostree handle, for the other node-ostree modules. */
  get ptr(): Ptr {
    if (!this.handle) throw new Error(`repository ${this.path} used after close(), this is a bug`);
    return this.handle;
  }

  get mode(): RepoModeName {
    const m = C.ostree_repo_get_mode(this.ptr) as number;
    return (Object.keys(RepoMode) as RepoModeName[]).find((k) => RepoMode[k] === m)!;
  }

  close(): void {
    if (this.handle) C.g_object_unref(this.handle);
    this.handle = null;
  }

  /**
   * A ref or checksum (or `ref^`) to a commit checksum; undefined for a missing ref when allowed.
   * As with `ostree rev-parse`, an abbreviated checksum is tried before refs, so a ref whose name
   * is all hex digits (`c`, `1a2b`) can resolve to a commit whose checksum starts that way.
   */
  resolve(refspec: string): string;
  resolve(refspec: string, options: { allowMissing: true }): string | undefined;
  resolve(refspec: string, options: { allowMissing?: boolean } = {}): string | undefined {
    const out: Ptr[] = [null];
    const err = errorOut();
    const ok = C.ostree_repo_resolve_rev(this.ptr, refspec, options.allowMissing ? 1 : 0, out, err);
    check(ok, err, `resolving ${refspec}`, this.path);
    return takeString(out[0]) ?? undefined;
  }

  /** Every ref (optionally under a prefix) with its commit; remote-tracking refs as `remote:ref`, as `ostree refs --list` shows them. */
  listRefs(prefix?: string): Map<string, string> {
    const out: Ptr[] = [null];
    const err = errorOut();
    check(C.ostree_repo_list_refs_ext(this.ptr, prefix ?? null, out, 0, null, err), err, 'listing refs', this.path);
    const table = out[0];
    const refs = new Map<string, string>();
    withHashTableKeys(table, (keys) => {
      for (const k of keys) refs.set(koffi.decode(k, 'char', -1) as string, koffi.decode(C.g_hash_table_lookup(table, k), 'char', -1) as string);
    });
    return new Map([...refs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** Points `ref` at `checksum` now (outside any transaction). */
  /** Points `ref` at a commit; `remote:ref` sets a remote-tracking ref (what a pull from that remote would have set). */
  setRef(ref: string, checksum: string): void {
    const i = ref.indexOf(':');
    const [remote, name] = i > 0 ? [ref.slice(0, i), ref.slice(i + 1)] : [null, ref];
    const err = errorOut();
    check(C.ostree_repo_set_ref_immediate(this.ptr, remote, name, checksum, null, err), err, `setting ref ${ref}`, this.path);
  }

  deleteRef(ref: string): void {
    const err = errorOut();
    check(C.ostree_repo_set_ref_immediate(this.ptr, null, ref, null, null, err), err, `deleting ref ${ref}`, this.path);
  }

  hasObject(type: keyof typeof ObjectType, checksum: string): boolean {
    const have = [0];
    const err = errorOut();
    check(C.ostree_repo_has_object(this.ptr, ObjectType[type], checksum, have, null, err), err, `looking up ${type} ${checksum}`, this.path);
    return have[0] !== 0;
  }

  /** The serialized GVariant of a metadata object (commit, dirtree, dirmeta). */
  loadVariant(type: 'commit' | 'dirTree' | 'dirMeta', checksum: string): Buffer {
    const out: Ptr[] = [null];
    const err = errorOut();
    check(C.ostree_repo_load_variant(this.ptr, ObjectType[type], checksum, out, err), err, `loading ${type} ${checksum}`, this.path);
    return takeVariantBytes(out[0]);
  }

  /** The commit's detached metadata (a{sv} bytes), or undefined when it has none. */
  readDetachedMetadata(checksum: string): Buffer | undefined {
    const out: Ptr[] = [null];
    const err = errorOut();
    check(C.ostree_repo_read_commit_detached_metadata(this.ptr, checksum, out, null, err), err, `reading detached metadata of ${checksum}`, this.path);
    return out[0] ? takeVariantBytes(out[0]) : undefined;
  }

  /** Replaces the commit's detached metadata with `metadata` (serialized a{sv}); undefined removes it. */
  writeDetachedMetadata(checksum: string, metadata: Buffer | undefined): void {
    this.requireCommit(checksum, `writing detached metadata of ${checksum}`);
    if (!metadata) {
      // libostree writes an empty file for NULL (read back as an empty dict): remove the loose object instead.
      rmSync(join(this.path, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.commitmeta`), { force: true });
      return;
    }
    const v = variantFromBytes('a{sv}', metadata);
    try {
      const err = errorOut();
      check(C.ostree_repo_write_commit_detached_metadata(this.ptr, checksum, v, null, err), err, `writing detached metadata of ${checksum}`, this.path);
    } finally {
      C.g_variant_unref(v);
    }
  }

  private requireCommit(checksum: string, operation: string): void {
    if (!/^[0-9a-f]{64}$/.test(checksum) || !this.hasObject('commit', checksum)) {
      throw new OstreeError(operation, this.path, 'g-io-error-quark', 1, `no commit ${checksum} in the repository`);
    }
  }

  /**
   * Checks every object the commit reaches: each is re-hashed by libostree and compared with
   * its name. Resolves with the number of objects the commit reaches; rejects naming the first
   * bad one. `seen` (object names `checksum.type`) skips objects an earlier call checked and
   * collects the ones this call checks, so a chain of commits is checked with each object once.
   */
  async fsck(rev: string, options: { seen?: Set<string> } = {}): Promise<{ objects: number }> {
    const checksum = this.resolve(rev);
    const out: Ptr[] = [null];
    const err = errorOut();
    check(await callAsync(C.ostree_repo_traverse_commit, this.ptr, checksum, 0, out, null, err), err, `walking commit ${checksum}`, this.path);
    const objects: [string, number][] = withHashTableKeys(out[0], (keys) =>
      keys.map((k) => {
        const cs: Ptr[] = [null];
        const type = [0];
        C.ostree_object_name_deserialize(k, cs, type);
        return [cs[0] as string, type[0]!] as [string, number];
      }),
    );
    for (const [cs, type] of objects) {
      const name = `${cs}.${type}`;
      if (options.seen?.has(name)) continue;
      const e = errorOut();
      check(await callAsync(C.ostree_repo_fsck_object, this.ptr, type, cs, null, e), e, `checking object ${cs}`, this.path);
      options.seen?.add(name);
    }
    return { objects: objects.length };
  }
}
