import { z } from 'zod';
import { arch, bytes, commit, header, id, LIMITS, packageEntry, packageName, ref, text, time, version } from '../fields.js';

/** A static delta a device may pull instead of the whole commit. */
export const releaseDelta = z.strictObject({
  fromVersion: version,
  fromCommit: commit,
  /** What a device downloads through this delta, fallback objects included. */
  bytes,
});

/** What changed in the package list against the previous published version (`ota diff`). */
export const releaseChanges = z.strictObject({
  previousVersion: version.nullable(),
  added: z.array(z.strictObject({ name: packageName, version })).max(LIMITS.packages),
  removed: z.array(z.strictObject({ name: packageName, version })).max(LIMITS.packages),
  changed: z.array(z.strictObject({ name: packageName, from: version, to: version })).max(LIMITS.packages),
});

/**
 * The release manifest (docs/contract.md, "Release manifest"): what a device needs to decide,
 * before downloading anything, whether and how to update.
 *
 * @example
 * const m: ReleaseManifest = releaseManifestSchema.parse(JSON.parse(text));
 */
export const releaseManifestSchema = z.strictObject({
  ...header('Release'),
  ref,
  version,
  commit,
  subject: text.nullable(),
  board: id.nullable(),
  arch,
  /** The anti-rollback floor: a device refuses anything below it. */
  minVersion: version.nullable(),
  group: id.nullable(),
  publishedAt: time,
  deltas: z.array(releaseDelta).max(LIMITS.deltas),
  /** Archive objects of the commit: what a pull without a delta downloads at most. */
  fullPullBytes: bytes,
  /** Disk space the deployment needs once checked out. */
  unpackedBytes: bytes,
  packages: z.array(packageEntry).max(LIMITS.packages),
  changes: releaseChanges,
});

export type ReleaseManifest = z.infer<typeof releaseManifestSchema>;
export type ReleaseDelta = z.infer<typeof releaseDelta>;
export type ReleaseChanges = z.infer<typeof releaseChanges>;
