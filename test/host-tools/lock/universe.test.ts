import { describe, expect, it } from 'vitest';
import { parseRelations, type Alternative } from '../../../host-tools/apt/relations.js';
import type { Candidate } from '../../../host-tools/lock/universe.js';
import { universe, type TestSource } from '../../helpers/packages-text.js';

function alt(text: string): Alternative {
  return parseRelations(text)[0]![0]!;
}

function vs(list: Candidate[]): string[] {
  return list.map((c) => `${c.version}@${c.origin.suite}`);
}

describe('Universe.versions and candidate', () => {
  const sources: TestSource[] = [
    { suite: 'stable', packages: [{ name: 'b', version: '1.0' }, { name: 'b', version: '1.1' }, { name: 'c', version: '3.0' }] },
    { suite: 'updates', packages: [{ name: 'b', version: '1.2' }, { name: 'b', version: '1.1' }] },
    { suite: 'backports', priority: 100, packages: [{ name: 'b', version: '2.0' }, { name: 'c', version: '4.0' }] },
    { suite: 'experimental', priority: 1, packages: [{ name: 'b', version: '3.0' }] },
    { suite: 'blocked', priority: -1, packages: [{ name: 'b', version: '9.0' }, { name: 'c', version: '3.0' }, { name: 'only-blocked' }] },
  ];

  it('orders by priority, then version, one entry per version, none below priority 0', () => {
    const u = universe(sources);
    expect(vs(u.versions('b'))).toEqual(['1.2@updates', '1.1@stable', '1.0@stable', '2.0@backports', '3.0@experimental']);
    expect(u.candidate('b')?.version).toBe('1.2');
    expect(u.versions('only-blocked')).toEqual([]);
    expect(u.candidate('only-blocked')).toBeUndefined();
    expect(u.candidate('nothing')).toBeUndefined();
  });

  it('keeps the copy of a version from the earlier source at equal priority', () => {
    const u = universe(sources);
    expect(u.versions('b').find((c) => c.version === '1.1')?.origin.suite).toBe('stable');
  });

  it('lists every copy of a version, still without sources below priority 0', () => {
    const u = universe(sources);
    expect(vs(u.copies('c'))).toEqual(['3.0@stable', '4.0@backports']);
    expect(vs(u.copies('b'))).toEqual(['1.2@updates', '1.1@stable', '1.1@updates', '1.0@stable', '2.0@backports', '3.0@experimental']);
  });

  it('restricts the candidate with a pin, also to a copy from a lower source', () => {
    const u = universe(sources);
    u.pin('b', (c) => c.origin.suite === 'backports');
    expect(u.candidate('b')?.version).toBe('2.0');
    u.pin('b', (c) => c.origin.suite === 'updates' && c.version === '1.1');
    expect(u.candidate('b')?.origin.suite).toBe('updates');
    u.pin('b', (c) => c.version === '9.0');
    expect(u.candidate('b')).toBeUndefined();
  });

  it('finds the best version a predicate accepts', () => {
    const u = universe(sources);
    expect(u.find('b', (c) => c.origin.suite === 'stable')?.version).toBe('1.1');
    expect(u.find('b', (c) => c.origin.suite === 'blocked')).toBeUndefined();
  });

  it('copies every field of the record and adds the origin', () => {
    const u = universe([{ suite: 's', component: 'contrib', uri: 'http://mirror.example/x', packages: [{ name: 'b', depends: 'c', multiArch: 'same', priority: 'optional', section: 'libs' }] }]);
    const c = u.candidate('b')!;
    expect(c).toMatchObject({ name: 'b', version: '1.0', architecture: 'amd64', depends: 'c', multiArch: 'same', priority: 'optional', section: 'libs', essential: false });
    expect(c.origin).toEqual({ uri: 'http://mirror.example/x', suite: 's', component: 'contrib', priority: 500, order: 0 });
  });

  it('keeps only the image architecture and all', () => {
    const u = universe(
      [
        { name: 'b', version: '1.0', arch: 'amd64' },
        { name: 'b', version: '5.0', arch: 'arm64' },
        { name: 'b', version: '2.0', arch: 'all' },
      ],
      'arm64',
    );
    expect(u.versions('b').map((c) => `${c.version}/${c.architecture}`)).toEqual(['5.0/arm64', '2.0/all']);
  });
});

describe('Universe.providers and satisfies', () => {
  it('lists the candidates that provide a name, from every index, once each', () => {
    const u = universe([
      { suite: 'a', packages: [{ name: 'p1', provides: 'virt' }, { name: 'p2', provides: 'other, virt (= 1.0)' }] },
      { suite: 'b', packages: [{ name: 'p1', version: '2.0', provides: 'virt' }, { name: 'p3', provides: 'virt', arch: 'arm64' }] },
    ]);
    expect(u.providers('virt').map((c) => `${c.name} ${c.version}`)).toEqual(['p1 2.0', 'p2 1.0']);
    expect(u.providers('nothing')).toEqual([]);
  });

  it('does not count an older version\'s Provides when the candidate dropped it', () => {
    const u = universe([
      { suite: 'a', packages: [{ name: 'p', version: '1.0', provides: 'virt' }] },
      { suite: 'b', packages: [{ name: 'p', version: '2.0' }] },
    ]);
    expect(u.providers('virt')).toEqual([]);
  });

  it('follows pins when listing providers', () => {
    const u = universe([
      { suite: 'a', packages: [{ name: 'p', version: '1.0', provides: 'virt' }] },
      { suite: 'b', packages: [{ name: 'p', version: '2.0' }] },
    ]);
    u.pin('p', (c) => c.version === '1.0');
    expect(u.providers('virt').map((c) => c.version)).toEqual(['1.0']);
  });

  it('matches by name and version relation', () => {
    const u = universe([{ name: 'b', version: '1:2.0-1' }]);
    const b = u.candidate('b')!;
    expect(u.satisfies(b, alt('b'))).toBe(true);
    expect(u.satisfies(b, alt('b (>= 1:2.0)'))).toBe(true);
    expect(u.satisfies(b, alt('b (>= 1:3.0)'))).toBe(false);
    expect(u.satisfies(b, alt('b (<< 3.0)'))).toBe(false);
    expect(u.satisfies(b, alt('b (<< 1:2.0-1~)'))).toBe(false);
    expect(u.satisfies(b, alt('c'))).toBe(false);
  });

  it('matches versioned relations only through versioned Provides', () => {
    const u = universe([{ name: 'p', version: '9.0', provides: 'unv, ver (= 2.0), multi (= 1.0), multi (= 3.0)' }]);
    const p = u.candidate('p')!;
    expect(u.satisfies(p, alt('unv'))).toBe(true);
    expect(u.satisfies(p, alt('unv (>= 1)'))).toBe(false);
    expect(u.satisfies(p, alt('ver'))).toBe(true);
    expect(u.satisfies(p, alt('ver (>= 2)'))).toBe(true);
    expect(u.satisfies(p, alt('ver (>> 2.0)'))).toBe(false);
    expect(u.satisfies(p, alt('ver (= 9.0)'))).toBe(false);
    expect(u.satisfies(p, alt('multi (>= 2)'))).toBe(true);
    expect(u.provided(p).map((a) => a.name)).toEqual(['unv', 'ver', 'multi', 'multi']);
  });

  it('applies Multi-Arch qualifiers', () => {
    const u = universe([
      { name: 'plain' },
      { name: 'allowed', multiArch: 'allowed' },
      { name: 'foreign', multiArch: 'foreign' },
      { name: 'same', multiArch: 'same' },
      { name: 'indep', arch: 'all', multiArch: 'foreign' },
    ]);
    const c = (n: string) => u.candidate(n)!;
    expect(u.satisfies(c('allowed'), alt('allowed:any'))).toBe(true);
    for (const n of ['plain', 'foreign', 'same', 'indep']) expect(u.satisfies(c(n), alt(`${n}:any`)), n).toBe(false);
    for (const n of ['plain', 'allowed', 'foreign', 'same', 'indep']) {
      expect(u.satisfies(c(n), alt(`${n}:native`)), n).toBe(true);
      expect(u.satisfies(c(n), alt(`${n}:amd64`)), n).toBe(true);
      expect(u.satisfies(c(n), alt(`${n}:arm64`)), n).toBe(false);
    }
  });
});

describe('Universe.essential, required and names', () => {
  it('lists Essential and Priority: required names whose candidate has the flag, sorted', () => {
    const u = universe([
      {
        suite: 'a',
        packages: [
          { name: 'zsh-static', essential: true, priority: 'optional' },
          { name: 'dash', essential: true, priority: 'required' },
          { name: 'mawk', priority: 'required' },
          { name: 'dropped', essential: true, priority: 'required', version: '1.0' },
          { name: 'foreign', essential: true, priority: 'required', arch: 'arm64' },
        ],
      },
      { suite: 'b', packages: [{ name: 'dropped', version: '2.0', priority: 'optional' }, { name: 'late-req', priority: 'required' }] },
    ]);
    expect(u.essential()).toEqual(['dash', 'zsh-static']);
    expect(u.required()).toEqual(['dash', 'late-req', 'mawk']);
    expect([...u.names()].sort()).toEqual(['dash', 'dropped', 'foreign', 'late-req', 'mawk', 'zsh-static']);
  });
});
