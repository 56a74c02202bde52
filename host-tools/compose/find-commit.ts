import { OtaError } from '../../common/errors.js';
import { readCommit, type CommitInfo, type Repo } from '../../node-ostree/index.js';

/**
 * A ref or checksum the user named, read from the repository: a missing one is bad input (exit 2)
 * with a hint, the same for `ota diff` and `ota image`, not libostree's "Refspec not found".
 *
 * @example
 * const commit = findCommit(repo, 'gateway/arm64/qemu-arm64');
 */
export function findCommit(repo: Repo, rev: string): CommitInfo {
  try {
    return readCommit(repo, rev);
  } catch (e) {
    throw new OtaError('ERR_OTA_USAGE', `${rev} is neither a ref nor a commit in ${repo.path}`, {
      cause: e,
      hint: `list the refs with \`ostree refs --repo ${repo.path}\`; \`ota build\` prints the ref and checksum it made`,
    });
  }
}
