/**
 * The relay's two rate limits as data (docs/agent.md, "The daemon and its workers").
 *
 * Bad input: a token bucket (a burst of `BAD_INPUT_BURST`, then one per `BAD_INPUT_REFILL_MS`), so a
 * flood of bad messages cannot fill the journal or the broker; what the bucket refuses is counted
 * and reported as one "N bad messages suppressed" line and event per window.
 *
 * Status: a status that differs from the last sent only by its progress waits until
 * `minIntervalMs` after the last one sent; a newer one replaces it meanwhile, and the last one is
 * always sent in the end. A new phase or another update goes at once.
 *
 * @example
 * const r = takeToken(bucket, Date.now()); bucket = r.bucket; if (r.allowed) report(e);
 */
export const BAD_INPUT_BURST = 10;
export const BAD_INPUT_REFILL_MS = 6_000;
/** How long suppressed messages are counted before their one summary. */
export const SUPPRESSED_WINDOW_MS = 60_000;

export interface Bucket {
  tokens: number;
  atMs: number;
  suppressed: number;
  /** When the first message of the current suppressed window was refused; null: none waiting. */
  suppressedSinceMs: number | null;
}

export function fullBucket(nowMs: number): Bucket {
  return { tokens: BAD_INPUT_BURST, atMs: nowMs, suppressed: 0, suppressedSinceMs: null };
}

export function takeToken(b: Bucket, nowMs: number): { bucket: Bucket; allowed: boolean } {
  const elapsed = Math.max(0, nowMs - b.atMs);
  const tokens = Math.min(BAD_INPUT_BURST, b.tokens + elapsed / BAD_INPUT_REFILL_MS);
  if (tokens >= 1) return { bucket: { ...b, tokens: tokens - 1, atMs: nowMs }, allowed: true };
  return { bucket: { ...b, tokens, atMs: nowMs, suppressed: b.suppressed + 1, suppressedSinceMs: b.suppressedSinceMs ?? nowMs }, allowed: false };
}

/** The count to report once the window of the first suppressed message has passed (0: nothing yet), and the bucket after it. */
export function drainSuppressed(b: Bucket, nowMs: number): { bucket: Bucket; count: number } {
  if (b.suppressedSinceMs === null || nowMs - b.suppressedSinceMs < SUPPRESSED_WINDOW_MS) return { bucket: b, count: 0 };
  return { bucket: { ...b, suppressed: 0, suppressedSinceMs: null }, count: b.suppressed };
}

/** What the status limiter compares: the phase and update, and nothing else of the document. */
export interface StatusKey {
  phase: string;
  updateId: string | null;
}

/** 'now', or the time (ms) at which a progress-only status may go. */
export function statusSendAt(last: { key: StatusKey; sentAtMs: number } | null, next: StatusKey, nowMs: number, minIntervalMs: number): 'now' | number {
  if (last === null || last.key.phase !== next.phase || last.key.updateId !== next.updateId) return 'now';
  const at = last.sentAtMs + minIntervalMs;
  return at <= nowMs ? 'now' : at;
}
