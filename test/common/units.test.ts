import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../common/units.js';

describe('formatBytes', () => {
  it('labels 1024-based values with IEC units', () => {
    expect([formatBytes(10), formatBytes(1536), formatBytes(3 * 1024 * 1024), formatBytes(5 * 1024 ** 3)]).toEqual(['10 B', '1.5 KiB', '3.0 MiB', '5.0 GiB']);
  });

  it('never prints kB or MB for a 1024-based value', () => {
    for (const n of [1000, 1024, 1_000_000, 1024 ** 2, 1e9]) expect(formatBytes(n)).not.toMatch(/\b(kB|MB|GB)\b/);
  });
});
