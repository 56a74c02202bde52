import { describe, expect, it } from 'vitest';
import { isoNow, isoTime } from '../../common/iso-time.js';

describe('isoTime: toISOString without a Date (docs/agent.md, "Footprint of the relay")', () => {
  it('agrees with Date at the edges: the epoch, leap days, centuries, year ends, the last ms before 10000', () => {
    const edges = ['1970-01-01T00:00:00.000Z', '1972-02-29T23:59:59.999Z', '2000-02-29T12:00:00.000Z', '2100-03-01T00:00:00.000Z', '1999-12-31T23:59:59.999Z', '2026-12-03T06:35:00.123Z', '9999-12-31T23:59:59.999Z'];
    for (const iso of edges) expect(isoTime(Date.parse(iso))).toBe(iso);
  });

  it('agrees with Date on 20000 instants spread over 1970 to 9999', () => {
    let x = 12345;
    for (let i = 0; i < 20_000; i++) {
      x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
      const ms = Math.floor((x / 2_147_483_648) * 253_402_300_799_999);
      expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it('hands what it does not cover to Date: before 1970, from 10000 on, fractions', () => {
    for (const ms of [-1, -86_400_000 * 400, 253_402_300_800_000, 1.5]) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('isoNow is now', () => {
    const before = Date.now();
    const t = Date.parse(isoNow());
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
  });
});
