/**
 * The bundle file both halves read (docs/releases.md, "Bundles"): its format, the ustar member
 * table, opening and checking a bundle, applying its delta to a repository, and checking a static
 * delta's parts against its superblock. `ota bundle` writes bundles and `ota verify` checks them
 * (host-tools/bundle/, host-tools/verify/); `ota-agent install` applies them
 * (device-agent/update/bundle.ts). It imports only common/, contract/ and node-ostree/.
 *
 * @example
 * const b = await openBundle('/media/usb/update.otab');
 * const problems = await checkBundleParts(b);
 */
export { BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, BUNDLE_MEMBERS, bundleHeaderSchema, MAX_HEADER_BYTES, MAX_MANIFEST_BYTES, MAX_SUPERBLOCK_BYTES, type BundleHeader } from './format.js';
export { applyBundle, checkBundleParts, openBundle, type Bundle } from './read.js';
export { listTarMembers, type TarMember } from './tar-read.js';
export { checkDeltaParts, decodeSuperblock, readSuperblock, sha256, type DeltaFallback, type DeltaPart, type Superblock } from './static-delta.js';
