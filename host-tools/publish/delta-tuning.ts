/**
 * How `ota publish` asks libostree for a release's static deltas (docs/releases.md, "Publishing").
 * Kept apart from delta.ts so the tuning (measured by bench/delta) changes one small file.
 * Plain defaults here: every unset field is libostree's own default.
 *
 * @example
 * await generateDelta(repo, { from, to, ...DELTA_TUNING });
 */
export interface DeltaTuning {
  /** Objects larger than this (uncompressed) are fetched as plain objects, outside the delta. */
  minFallbackSizeBytes?: number;
  /** Delta parts of at most this size. */
  maxPartSizeBytes?: number;
  /** Spend more time for smaller deltas (bsdiff between versions of a file). */
  major?: boolean;
}

export const DELTA_TUNING: DeltaTuning = {};
