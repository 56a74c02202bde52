/**
 * node-ostree: a typed binding to libostree (through koffi) used by both the host tools and the
 * device agent. Everything that touches FFI lives in this folder.
 *
 * @example
 * import { Repo, commitTar, commitUnion, checkout, Sysroot, pull, signCommitEd25519 } from '../node-ostree/index.js';
 */
export { Repo, type RepoModeName } from './repo.js';
export { OstreeError } from './errors.js';
export { batch, commitDirectory, writeCommit, commitTar, commitHardlinkedCheckout, DevinoCache, type CommitOptions, type CommitResult, type TarOptions } from './commit.js';
export { checkout, type CheckoutOptions } from './checkout.js';
export { readCommit, listTree, catFile, diffCommits, commitUnion, type TreeEntry, type TreeDiff, type UnionConflict, type UnionOptions, type CommitInfo } from './tree.js';
export { exportTar } from './export.js';
export { pull, addRemote, deleteRemote, listRemotes, remoteUrl, generateDelta, applyDeltaOffline, regenerateSummary, staticDeltaPath, type PullOptions, type PullProgress, type DeltaOptions } from './transport.js';
export { signCommitEd25519, verifyCommitEd25519, signCommitGpg, verifyCommitGpg, signSummaryGpg, rawPublicKey, ed25519PrivateKey, ed25519PublicKey, ED25519_KEY } from './sign.js';
export { decodeSuperblock, sha256, type Superblock, type DeltaPart, type DeltaFallback } from './delta-superblock.js';
export { Sysroot, type Deployment, type DeployOptions } from './sysroot.js';
export { readDeb, type Deb, type DebMember, type DebCompression } from './deb.js';
export { decodeVariant, encodeVariant, GVariantValue, dict } from './gvariant.js';
export { decodeCommit, decodeDirTree, decodeDirMeta, encodeMetadata, decodeMetadata } from './objects.js';
export { libostreeVersion, type LibostreeVersion } from './version.js';
