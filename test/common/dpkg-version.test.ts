import { describe, expect, it } from 'vitest';
import { OtaError } from '../../common/errors.js';
import {
  compareVersions,
  normalizeRelation,
  parseVersion,
  satisfiesRelation,
  type Relation,
} from '../../common/dpkg-version.js';

/** Asserts a < b, and that the comparison is antisymmetric. */
function expectLess(a: string, b: string): void {
  expect(compareVersions(a, b), `${a} < ${b}`).toBe(-1);
  expect(compareVersions(b, a), `${b} > ${a}`).toBe(1);
}

function expectEqual(a: string, b: string): void {
  expect(compareVersions(a, b), `${a} = ${b}`).toBe(0);
  expect(compareVersions(b, a), `${b} = ${a}`).toBe(0);
}

describe('parseVersion', () => {
  it('splits epoch, upstream and revision', () => {
    expect(parseVersion('2.36-9+deb12u4')).toEqual({ epoch: 0, upstream: '2.36', revision: '9+deb12u4' });
    expect(parseVersion('1:2.36-9')).toEqual({ epoch: 1, upstream: '2.36', revision: '9' });
    expect(parseVersion('1.0')).toEqual({ epoch: 0, upstream: '1.0', revision: '' });
  });

  it('splits the revision at the last hyphen and the epoch at the first colon', () => {
    expect(parseVersion('1.2-3-4')).toEqual({ epoch: 0, upstream: '1.2-3', revision: '4' });
    expect(parseVersion('1:1:1')).toEqual({ epoch: 1, upstream: '1:1', revision: '' });
    expect(parseVersion('2:1.0~rc1-ab')).toEqual({ epoch: 2, upstream: '1.0~rc1', revision: 'ab' });
  });

  it('accepts what dpkg accepts at the edges', () => {
    expect(parseVersion('  1.0-1\t')).toEqual({ epoch: 0, upstream: '1.0', revision: '1' });
    expect(parseVersion('00001:1.0').epoch).toBe(1);
    expect(parseVersion('2147483647:1').epoch).toBe(2147483647);
    expect(parseVersion('+1:1.0').epoch).toBe(1); // strtol takes a sign
    expect(parseVersion('-0:1.0').epoch).toBe(0);
    expect(parseVersion('0')).toEqual({ epoch: 0, upstream: '0', revision: '' });
  });

  it.each([
    ['', 'version string is empty'],
    ['   ', 'version string is empty'],
    ['1.0 a', 'version string has embedded spaces'],
    [':1.0', 'epoch in version is empty'],
    ['a:1.0', 'epoch in version is empty'],
    ['1a:1.0', 'epoch in version is not number'],
    ['1.0-a:b', 'epoch in version is not number'],
    ['-1:1.0', 'epoch in version is negative'],
    ['2147483648:1', 'epoch in version is too big'],
    ['99999999999999999999:1', 'epoch in version is too big'],
    ['1:', 'nothing after colon in version number'],
    ['1.0-', 'revision number is empty'],
    ['-1', 'version number is empty'],
    ['1:-1', 'version number is empty'],
    ['a1.0', 'version number does not start with digit'],
    ['~1', 'version number does not start with digit'],
    ['1_0', 'invalid character in version number'],
    ['1.0é', 'invalid character in version number'],
    ['1.0-1_2', 'invalid character in revision number'],
    ['1:1.0-1:2', 'invalid character in revision number'],
  ])('rejects %j (%s)', (v, reason) => {
    let err: unknown;
    try {
      parseVersion(v);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OtaError);
    expect((err as OtaError).code).toBe('ERR_OTA_INDEX');
    expect((err as OtaError).message).toContain(JSON.stringify(v));
    expect((err as OtaError).message).toContain(reason);
    // compareVersions rejects it too, on either side.
    expect(() => compareVersions(v, '1.0')).toThrow(OtaError);
    expect(() => compareVersions('1.0', v)).toThrow(OtaError);
  });
});

describe('compareVersions', () => {
  it('compares epochs first', () => {
    expectLess('2.0', '1:1.0');
    expectLess('1:9.9', '2:0.1');
    expectEqual('0:1.0', '1.0');
    expectEqual('00:1.0', '1.0');
    expectLess('9:1.0', '10:1.0'); // numerically, not as strings
  });

  it('sorts a tilde before everything, even the end of the string', () => {
    expectLess('1.0~rc1', '1.0');
    expectLess('1.0~~', '1.0~');
    expectLess('1.0~~a', '1.0~');
    expectLess('1.0~', '1.0');
    expectLess('1.0~rc1', '1.0~rc2');
    expectLess('1.0~beta', '1.0~rc');
    expectLess('2.36-9~bpo11+1', '2.36-9');
    expectLess('1.0-1~', '1.0-1');
  });

  it('sorts letters before non-letters and after the end of the string', () => {
    expectLess('1.0a', '1.0+');
    expectLess('1.0a', '1.0.');
    expectLess('1.0Z', '1.0a'); // ASCII among letters
    expectLess('1.0', '1.0a');
    expectLess('1.0', '1.0+');
    expectLess('1.0+', '1.0.'); // '+' (43) before '.' (46)
    expectLess('1.0+-1', '1.0--1'); // '+' (43) before '-' (45) inside upstream
  });

  it('compares digit runs numerically, of any length, ignoring leading zeros', () => {
    expectLess('1.9', '1.10');
    expectEqual('1.01', '1.1');
    expectEqual('1.000', '1.0');
    expectLess('1.00000000000000000000001', '1.00000000000000000000002');
    expectEqual('1.00000000000000000000001', '1.1');
    expectLess('1.99999999999999999999', '1.100000000000000000000');
    expectLess('9007199254740992', '9007199254740993'); // past Number.MAX_SAFE_INTEGER
    expectLess('123456789012345678901234567890', '123456789012345678901234567891');
  });

  it('compares revisions after upstream, a missing revision being 0', () => {
    expectLess('1.0-1', '1.0-2');
    expectLess('1.0-9', '1.0-10');
    expectLess('1.0', '1.0-1');
    expectEqual('1.0', '1.0-0');
    expectLess('1.0-1', '1.0.1');
    expectLess('1.0-1', '1.0-1+b1');
    expectLess('2.36-9+deb12u3', '2.36-9+deb12u4');
    expectLess('1.2-3-4', '1.2-3-5');
    expectLess('1.2-3-9', '1.2.3-1'); // upstream 1.2-3 < 1.2.3
  });

  it('returns 0 for identical and equivalent versions', () => {
    expectEqual('1:2.36-9+deb12u4', '1:2.36-9+deb12u4');
    expectEqual(' 1.0 ', '1.0');
    expectEqual('-0:1.0', '1.0');
  });

  it('stays right past the bound of its parse cache', () => {
    // 70,000 distinct versions overflow the 65,536-entry cache, which then starts over.
    let wrong = 0;
    for (let i = 0; i < 70_000; i++) if (compareVersions(`1.${i}`, `1.${i + 1}-1`) !== -1) wrong++;
    expect(wrong).toBe(0);
    expect(compareVersions('1.0', '1.0-0')).toBe(0);
  });

  it('sorts a list like dpkg', () => {
    const sorted = ['1.0~~', '1.0~', '1.0~a', '1.0', '1.0-0.1', '1.0a', '1.0+b1', '1.0.1', '1.1', '1:0.1'];
    const shuffled = [...sorted].reverse();
    expect(shuffled.sort(compareVersions)).toEqual(['1.0~~', '1.0~', '1.0~a', '1.0', '1.0-0.1', '1.0a', '1.0+b1', '1.0.1', '1.1', '1:0.1']);
  });
});

describe('satisfiesRelation', () => {
  const cases: Array<[Relation, [boolean, boolean, boolean]]> = [
    // results for version 1.0 against ref 2.0, 1.0, 0.9
    ['<<', [true, false, false]],
    ['<=', [true, true, false]],
    ['=', [false, true, false]],
    ['>=', [false, true, true]],
    ['>>', [false, false, true]],
  ];
  it.each(cases)('%s', (op, [vsHigher, vsSame, vsLower]) => {
    expect(satisfiesRelation('1.0', op, '2.0')).toBe(vsHigher);
    expect(satisfiesRelation('1.0', op, '1.0-0')).toBe(vsSame);
    expect(satisfiesRelation('1.0', op, '0.9')).toBe(vsLower);
  });

  it('uses dpkg ordering', () => {
    expect(satisfiesRelation('2.36-9+deb12u4', '>=', '2.34')).toBe(true);
    expect(satisfiesRelation('1.0~rc1', '>=', '1.0')).toBe(false);
    expect(satisfiesRelation('1:0.1', '>>', '99')).toBe(true);
  });

  it('rejects an invalid version', () => {
    expect(() => satisfiesRelation('1.0', '>=', 'x')).toThrow(OtaError);
  });
});

describe('normalizeRelation', () => {
  it('passes the five operators through', () => {
    for (const op of ['<<', '<=', '=', '>=', '>>'] as const) expect(normalizeRelation(op)).toBe(op);
  });

  it('reads the obsolete < and > as <= and >=', () => {
    expect(normalizeRelation('<')).toBe('<=');
    expect(normalizeRelation('>')).toBe('>=');
  });

  it.each(['==', '!=', '=<', '=>', '<>', '', ' >=', '~'])('rejects %j', (op) => {
    expect(() => normalizeRelation(op)).toThrow(OtaError);
    expect(() => normalizeRelation(op)).toThrow(/unknown version relation/);
  });
});
