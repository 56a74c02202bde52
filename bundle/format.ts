import { z } from 'zod';

/**
 * The bundle file (`ota bundle`, docs/releases.md, "Bundles"): an uncompressed ustar archive whose
 * members come in this order and no others.
 *
 * @example
 * BUNDLE_MEMBERS.header; // 'ota-bundle.json', always the first member
 */
export const BUNDLE_MEMBERS = {
  header: 'ota-bundle.json',
  manifest: 'manifest.jws',
  superblock: 'delta/superblock',
  part: (i: number): string => `delta/${i}`,
} as const;

export const BUNDLE_FORMAT = 'deb-ota-bundle';
export const BUNDLE_FORMAT_VERSION = 1;

const checksum = z.string().regex(/^[0-9a-f]{64}$/, 'a commit checksum is 64 lowercase hex digits');

/** `ota-bundle.json`: what the bundle updates to and from. Unknown keys are refused. */
export const bundleHeaderSchema = z
  .object({
    format: z.literal(BUNDLE_FORMAT),
    formatVersion: z.literal(BUNDLE_FORMAT_VERSION),
    ref: z.string().min(1),
    version: z.string().min(1),
    commit: checksum,
    /** The release the delta starts from; null for a bundle holding the whole commit. */
    from: z.object({ version: z.string().min(1), commit: checksum }).strict().nullable(),
    parts: z.number().int().min(0),
  })
  .strict();

export type BundleHeader = z.infer<typeof bundleHeaderSchema>;

/** Upper bounds for the small members, read whole into memory. */
export const MAX_HEADER_BYTES = 64 * 1024;
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_SUPERBLOCK_BYTES = 64 * 1024 * 1024;
