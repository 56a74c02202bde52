import { resolve as resolvePath } from 'node:path';
import { AT_FDCWD, C } from './ffi/libs.js';
import { callAsync, check, errorOut } from './ffi/call.js';
import type { DevinoCache } from './commit.js';
import type { Repo } from './repo.js';

/**
 * Checking a commit out into a directory.
 * - `user` mode writes files owned by the caller, without setuid bits or xattrs; `hardlink`
 *   links files to the repository's objects instead of copying (needs a bare repo, or a
 *   bare-user one together with `userMode`, on the same filesystem) and is what a build's stage 2 uses.
 * - The destination's parent directory must exist.
 * - `union` lets several commits be checked out on top of each other, later files winning.
 * - `devino` records (device, inode) -> checksum for `commitHardlinkedCheckout`.
 *
 * @example
 * await checkout(repo, 'image/arm64', '/tmp/root', { hardlink: true, devino });
 */
export interface CheckoutOptions {
  /** Check out as the calling user (no ownership, no setuid, no xattrs); default: preserve (root). */
  userMode?: boolean;
  /** Hardlink files to the repository's objects (default: true when the repository allows it). */
  hardlink?: boolean;
  /** Overwrite files already in the target (union of several checkouts). */
  union?: boolean;
  /** Only this path of the commit. */
  subpath?: string;
  devino?: DevinoCache;
}

export async function checkout(repo: Repo, rev: string, destination: string, options: CheckoutOptions = {}): Promise<void> {
  const checksum = repo.resolve(rev);
  const dest = resolvePath(destination);
  const opts: Record<string, unknown> = {
    mode: options.userMode ? 1 : 0,
    overwrite_mode: options.union ? 1 : 0,
    enable_uncompressed_cache: 0,
    enable_fsync: 0,
    process_whiteouts: 0,
    no_copy_fallback: options.hardlink === true ? 1 : 0,
    force_copy: options.hardlink === false ? 1 : 0,
    bareuseronly_dirs: 0,
    force_copy_zerosized: 0,
    process_passthrough_whiteouts: 0,
    unused_bools: [0, 0, 0],
    subpath: options.subpath ?? null,
    devino_to_csum_cache: options.devino?.ptr ?? null,
    unused_ints: [0, 0, 0, 0, 0, 0],
    unused_ptrs: [null, null, null],
    filter: null,
    filter_user_data: null,
    sepolicy: null,
    sepolicy_prefix: null,
  };
  const err = errorOut();
  const ok = await callAsync(C.ostree_repo_checkout_at, repo.ptr, opts, AT_FDCWD, dest, checksum, null, err);
  check(ok, err, `checking out ${rev} (${checksum.slice(0, 12)})`, dest);
}
