import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { formatAlternative, formatGroup, parseRelations } from '../../../host-tools/apt/relations.js';

describe('parseRelations', () => {
  it('parses groups, alternatives and versions', () => {
    expect(parseRelations('libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0')).toEqual([
      [{ name: 'libc6', op: '>=', version: '2.34' }],
      [{ name: 'debconf', op: '>=', version: '0.5' }, { name: 'debconf-2.0' }],
    ]);
  });

  it('returns nothing for an absent or empty field', () => {
    expect(parseRelations(undefined)).toEqual([]);
    expect(parseRelations('')).toEqual([]);
    expect(parseRelations(' \n ')).toEqual([]);
  });

  it('reads every operator, mapping the obsolete < and > to <= and >=', () => {
    const ops = ['<<', '<=', '=', '>=', '>>', '<', '>'];
    const parsed = parseRelations(ops.map((op) => `p (${op} 1)`).join(', ')).map((g) => g[0]!.op);
    expect(parsed).toEqual(['<<', '<=', '=', '>=', '>>', '<=', '>=']);
  });

  it('keeps epochs, tildes and pluses in versions', () => {
    expect(parseRelations('a (>= 1:2.0~rc1+dfsg-3~bpo12+1)')).toEqual([[{ name: 'a', op: '>=', version: '1:2.0~rc1+dfsg-3~bpo12+1' }]]);
  });

  it('accepts any whitespace, newlines included, around the parts', () => {
    const field = 'a(>=1.0),\n b  (  <<  2:3  ) |\n\tc ,d\n';
    expect(parseRelations(field)).toEqual([[{ name: 'a', op: '>=', version: '1.0' }], [{ name: 'b', op: '<<', version: '2:3' }, { name: 'c' }], [{ name: 'd' }]]);
  });

  it('reads architecture qualifiers', () => {
    expect(parseRelations('python3:any (>= 3.11), perl:native, libc6:arm64')).toEqual([
      [{ name: 'python3', archQualifier: 'any', op: '>=', version: '3.11' }],
      [{ name: 'perl', archQualifier: 'native' }],
      [{ name: 'libc6', archQualifier: 'arm64' }],
    ]);
  });

  it('drops alternatives whose architecture list excludes the architecture', () => {
    const field = 'a [amd64 !arm64], b [!amd64], c [arm64 armhf] | d, e [linux-any], f [!linux-any], g [any-amd64]';
    const names = (arch: string) => parseRelations(field, arch).map((g) => g.map((alt) => alt.name).join('|'));
    expect(names('amd64')).toEqual(['a', 'd', 'e', 'g']);
    expect(names('arm64')).toEqual(['b', 'c|d', 'e']);
    expect(names('armhf')).toEqual(['a', 'b', 'c|d', 'e']);
  });

  it('follows dpkg for a list that mixes plain and negated architectures', () => {
    // dpkg (Dpkg::Deps arch_is_concerned) and apt both include an architecture a mixed list does not name.
    expect(parseRelations('a [amd64 !arm64]', 'armhf')).toEqual([[{ name: 'a' }]]);
    expect(parseRelations('a [amd64 !arm64]', 'arm64')).toEqual([]);
  });

  it('keeps alternatives with an architecture list when no architecture is given', () => {
    expect(parseRelations('a [arm64]')).toEqual([[{ name: 'a' }]]);
  });

  it('drops a group whose every alternative is for another architecture', () => {
    expect(parseRelations('a [arm64] | b [armhf], c', 'amd64')).toEqual([[{ name: 'c' }]]);
  });

  it('ignores build profiles', () => {
    expect(parseRelations('a <!nocheck>, b (>= 1) [amd64] <!nocheck> <cross>, c <!nocheck !nodoc>', 'amd64')).toEqual([
      [{ name: 'a' }],
      [{ name: 'b', op: '>=', version: '1' }],
      [{ name: 'c' }],
    ]);
  });

  const malformed = [
    'a (>= 1.0',
    'a (>= )',
    'a (>>)',
    'a (<<)',
    'a (=)',
    'a (=> 1.0)',
    'a (1.0)',
    'a, , b',
    'a | | b',
    'a b',
    'A',
    '-a',
    'a (>= 1.0) (<< 2.0)',
    'a [amd64',
  ];
  for (const field of malformed) {
    it(`rejects ${JSON.stringify(field)} with ERR_OTA_INDEX`, () => {
      try {
        parseRelations(field, 'amd64');
      } catch (e) {
        expect(e).toBeInstanceOf(OtaError);
        expect((e as OtaError).code).toBe('ERR_OTA_INDEX');
        expect((e as OtaError).message).toMatch(/^cannot parse the relation ".*" in ".*"$/);
        expect((e as OtaError).message).toContain(`in "${field}"`);
        return;
      }
      throw new Error(`parsed ${JSON.stringify(field)}`);
    });
  }
});

describe('formatAlternative and formatGroup', () => {
  it('render relations back as Debian writes them', () => {
    const [g1, g2] = parseRelations('python3:any (>= 3.11) | python3-minimal, libc6 (<< 2:0)');
    expect(formatGroup(g1!)).toBe('python3:any (>= 3.11) | python3-minimal');
    expect(formatAlternative(g2![0]!)).toBe('libc6 (<< 2:0)');
    expect(formatGroup(parseRelations('a (< 1)')[0]!)).toBe('a (<= 1)');
  });
});
