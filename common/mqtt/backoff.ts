/**
 * The wait before reconnect attempt `attempt` (0 for the first retry): "equal jitter", half the
 * capped exponential plus a random half of it. There is always a wait of at least half, and ten
 * thousand devices that lost the same broker spread their returns over the other half instead of
 * coming back in the same second (mqtt.js reconnects at a fixed period, without jitter).
 *
 * @example
 * reconnectDelayMs(0, { minMs: 1000, maxMs: 300_000 }, Math.random); // 500..1000
 * reconnectDelayMs(20, { minMs: 1000, maxMs: 300_000 }, () => 0.5);  // 225000
 */
export function reconnectDelayMs(attempt: number, bounds: { minMs: number; maxMs: number }, random: () => number): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 52);
  const capped = Math.min(bounds.maxMs, bounds.minMs * 2 ** exponent);
  const half = capped / 2;
  return Math.round(half + half * Math.min(Math.max(random(), 0), 1));
}

/** How long a connection must stay up before the attempt count starts again from zero. */
export const STABLE_CONNECTION_MS = 60_000;
