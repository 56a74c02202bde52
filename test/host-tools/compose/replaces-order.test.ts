import { describe, expect, it } from 'vitest';
import { replacesOrder } from '../../../host-tools/compose/stage1.js';
import type { LockedDeb } from '../../../host-tools/compose/plan-debs.js';

const deb = (name: string): LockedDeb => ({ name, version: '1', architecture: 'all', filename: `${name}.deb`, size: 1, sha256: name, originUri: 'http://mirror.example' });

describe('replacesOrder', () => {
  it('puts a package after the packages it replaces, keeping name order otherwise', () => {
    const r: Record<string, string[]> = { a: ['c'], b: [], c: [], d: ['a'] };
    expect(replacesOrder(['a', 'b', 'c', 'd'].map(deb), (d) => r[d.name]!).map((d) => d.name)).toEqual(['b', 'c', 'a', 'd']);
  });

  it('ignores Replaces on packages outside the set and breaks cycles by name', () => {
    const r: Record<string, string[]> = { a: ['b', 'zz'], b: ['a'] };
    expect(replacesOrder(['a', 'b'].map(deb), (d) => r[d.name]!).map((d) => d.name)).toEqual(['a', 'b']);
  });
});
