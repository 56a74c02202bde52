import { describe, expect, it } from 'vitest';
import { reconnectDelayMs } from '../../../common/mqtt/backoff.js';

const bounds = { minMs: 1000, maxMs: 300_000 };

describe('reconnectDelayMs', () => {
  it('waits between half and all of the capped exponential', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const capped = Math.min(bounds.maxMs, bounds.minMs * 2 ** attempt);
      expect(reconnectDelayMs(attempt, bounds, () => 0)).toBe(capped / 2);
      expect(reconnectDelayMs(attempt, bounds, () => 1)).toBe(capped);
    }
  });

  it('grows, then stays at the cap however many attempts failed', () => {
    const mid = (a: number) => reconnectDelayMs(a, bounds, () => 0.5);
    expect(mid(1)).toBeGreaterThan(mid(0));
    expect(mid(5)).toBeGreaterThan(mid(4));
    expect(mid(9)).toBe(mid(10_000));
    expect(mid(10_000)).toBe(0.75 * bounds.maxMs);
  });

  it('spreads ten thousand devices over the upper half of the wait', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const delays = Array.from({ length: 10_000 }, () => reconnectDelayMs(8, bounds, random));
    const seconds = new Set(delays.map((d) => Math.floor(d / 1000)));
    // 2^8 s capped at 256 s: the returns land on about 128 different seconds, not one.
    expect(seconds.size).toBeGreaterThan(100);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(128_000);
  });

  it('never waits less than half the minimum, whatever the random source says', () => {
    expect(reconnectDelayMs(0, bounds, () => -5)).toBe(500);
    expect(reconnectDelayMs(-3, bounds, () => 7)).toBe(1000);
  });
});
