/**
 * How `ota publish` asks libostree for a release's static deltas (docs/releases.md, "Deltas").
 * Kept apart from delta.ts so the tuning (measured by bench/delta) changes one small file.
 * Every unset field is libostree's own default.
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
  /** Send a changed file as a bsdiff against its previous version. */
  bsdiff?: boolean;
  /** Files whose old plus new size exceeds this are sent whole. */
  maxBsdiffSizeBytes?: number;
}

/**
 * Measured with bench/delta on the arm64 minbase image (docs/releases.md, "Deltas"):
 * - minFallbackSizeBytes 0 (libostree: 4 MB): no fallback objects, the delta is self-contained.
 *   A fallback object travels as an archive-mode .filez (zlib) on a request of its own; inside a
 *   part it is xz-compressed with everything else. Adding curl: 4.31 MB with the default (1.82 MB
 *   of it one fallback, libcrypto) against 3.77 MB, 0.96x the new .debs. And only a delta without
 *   fallbacks can be applied offline (libostree refuses the others): a bundle on a USB stick, or a
 *   device that fetches the delta's files itself rather than through libostree's pull.
 *   The price: a file larger than a part makes a part of its own, which the device decompresses
 *   in memory.
 * - maxPartSizeBytes 32 MB (libostree's default, stated): one part for the updates measured, and
 *   the bound on a part's memory on the device apart from the case above.
 * - bsdiff on (libostree's default, stated): the tzdata bump sends 0.237 MB with it, 0.302 MB
 *   without; adding curl costs 0.015 MB more with it (new files bsdiffed against unrelated ones
 *   of the same name), which the bump repays many times.
 * - major is not set: libostree 2022.7 ignores it.
 */
export const DELTA_TUNING: DeltaTuning = {
  minFallbackSizeBytes: 0,
  maxPartSizeBytes: 32_000_000,
  bsdiff: true,
};
