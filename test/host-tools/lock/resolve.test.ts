import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { formatLock, type LockHeader } from '../../../host-tools/lock/lockfile.js';
import { describeReason, resolve, type Resolution, type ResolveRequest, type RootSpec } from '../../../host-tools/lock/resolve.js';
import type { Universe } from '../../../host-tools/lock/universe.js';
import { universe, type Pkg, type TestSource } from '../../helpers/packages-text.js';

// Every universe here is built from in-memory Packages text (test/helpers/packages-text.ts); the
// origins are made-up hosts.

type Req = Partial<Omit<ResolveRequest, 'roots'>>;

function run(u: Universe, roots: (string | RootSpec)[], req: Req = {}): Resolution {
  return resolve(u, {
    roots: roots.map((r) => (typeof r === 'string' ? { name: r } : r)),
    variant: 'none',
    exclude: [],
    recommends: false,
    ...req,
  });
}

/** Resolve a single-source universe. */
function lockOf(pkgs: Pkg[] | TestSource[], roots: (string | RootSpec)[], req: Req = {}, arch = 'amd64'): Resolution {
  return run(universe(pkgs, arch), roots, req);
}

function names(r: Resolution): string[] {
  return [...r.selected.keys()].sort();
}

function versions(r: Resolution): Record<string, string> {
  return Object.fromEntries([...r.selected].map(([n, c]) => [n, c.version]));
}

function failure(fn: () => unknown, code: OtaError['code']): OtaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OtaError);
    expect((e as OtaError).code, (e as Error).message).toBe(code);
    return e as OtaError;
  }
  throw new Error(`expected an OtaError ${code}`);
}

/** The whole error as one string, for substring checks. */
function text(e: OtaError): string {
  return [e.message, ...e.details, e.hint ?? ''].join('\n');
}

describe('resolve: Depends and Pre-Depends', () => {
  it('installs Depends transitively and nothing else', () => {
    const r = lockOf([{ name: 'a', depends: 'b' }, { name: 'b', depends: 'c' }, { name: 'c' }, { name: 'unrelated' }], ['a']);
    expect(names(r)).toEqual(['a', 'b', 'c']);
    expect(r.roots).toEqual(['a']);
  });

  it('installs Pre-Depends', () => {
    const r = lockOf([{ name: 'a', preDepends: 'p' }, { name: 'p', preDepends: 'q' }, { name: 'q' }], ['a']);
    expect(names(r)).toEqual(['a', 'p', 'q']);
    expect(r.reasons.get('p')).toEqual({ kind: 'dependency', by: 'a', field: 'Pre-Depends', relation: 'p' });
  });

  it('satisfies Pre-Depends before Depends, as apt lists them', () => {
    // Depends first would pick y for `y` and then find `x | y` satisfied; Pre-Depends first picks x.
    const r = lockOf([{ name: 'a', preDepends: 'x | y', depends: 'y' }, { name: 'x' }, { name: 'y' }], ['a']);
    expect(names(r)).toEqual(['a', 'x', 'y']);
    expect(r.reasons.get('x')).toMatchObject({ field: 'Pre-Depends' });
    expect(r.reasons.get('y')).toMatchObject({ field: 'Depends' });
  });

  it('reads dependency fields spread over continuation lines', () => {
    const r = lockOf([{ name: 'a', depends: 'b,\nc (>= 1.0),\n d' }, { name: 'b' }, { name: 'c' }, { name: 'd' }], ['a']);
    expect(names(r)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('terminates on dependency cycles', () => {
    const r = lockOf(
      [
        { name: 'a', depends: 'b' },
        { name: 'b', depends: 'a, c' },
        { name: 'c', preDepends: 'b', depends: 'a | c' },
      ],
      ['a'],
    );
    expect(names(r)).toEqual(['a', 'b', 'c']);
  });

  it('terminates on a package that depends on itself', () => {
    expect(names(lockOf([{ name: 'a', depends: 'a (>= 1.0), a' }], ['a']))).toEqual(['a']);
  });
});

describe('resolve: or-groups', () => {
  it('takes the first installable alternative', () => {
    const r = lockOf([{ name: 'a', depends: 'missing | b | c' }, { name: 'b' }, { name: 'c' }], ['a']);
    expect(names(r)).toEqual(['a', 'b']);
    expect(r.reasons.get('b')).toEqual({ kind: 'dependency', by: 'a', field: 'Depends', relation: 'missing | b | c' });
  });

  it('prefers the first alternative even when a later one sorts better', () => {
    const r = lockOf([{ name: 'a', depends: 'zz | aa' }, { name: 'aa', priority: 'required', essential: false }, { name: 'zz', priority: 'extra' }], ['a']);
    expect(names(r)).toEqual(['a', 'zz']);
  });

  it('skips an alternative whose candidate does not satisfy the version', () => {
    const r = lockOf([{ name: 'a', depends: 'b (>= 2) | c' }, { name: 'b', version: '1.0' }, { name: 'c' }], ['a']);
    expect(names(r)).toEqual(['a', 'c']);
  });

  it('leaves a group alone when a later alternative is already selected', () => {
    // c pulls in y before a's `x | y` is looked at, so x is never needed.
    const r = lockOf([{ name: 'a', depends: 'c, x | y' }, { name: 'c', depends: 'y' }, { name: 'x' }, { name: 'y' }], ['a']);
    expect(names(r)).toEqual(['a', 'c', 'y']);
  });

  it('leaves a group alone when a requested package satisfies a later alternative', () => {
    const r = lockOf([{ name: 'a', depends: 'x | y' }, { name: 'x' }, { name: 'y' }], ['a', 'y']);
    expect(names(r)).toEqual(['a', 'y']);
  });

  it('counts a selected provider of a later alternative as satisfying the group', () => {
    const r = lockOf([{ name: 'a', depends: 'c, x | virt' }, { name: 'c', depends: 'p' }, { name: 'p', provides: 'virt' }, { name: 'x' }], ['a']);
    expect(names(r)).toEqual(['a', 'c', 'p']);
  });

  it('does not count a selected package that fails the alternative\'s version', () => {
    const r = lockOf([{ name: 'a', depends: 'c, y (>= 2) | x' }, { name: 'c', depends: 'y' }, { name: 'x' }, { name: 'y', version: '1.0' }], ['a']);
    expect(names(r)).toEqual(['a', 'c', 'x', 'y']);
  });
});

describe('resolve: version relations', () => {
  const cases: [string, string, boolean][] = [
    ['<< 2.0', '1.9', true],
    ['<< 2.0', '2.0', false],
    ['<= 2.0', '2.0', true],
    ['<= 2.0', '2.0-1', false],
    ['= 2.0-1', '2.0-1', true],
    ['= 2.0-1', '2.0-2', false],
    ['= 2.0', '2.0-0', true],
    ['>= 2.0', '2.0', true],
    ['>= 2.0', '1.99', false],
    ['>> 2.0', '2.0', false],
    ['>> 2.0', '2.0.1', true],
    // The obsolete < and > mean <= and >=, not strict.
    ['< 2.0', '2.0', true],
    ['< 2.0', '2.1', false],
    ['> 2.0', '2.0', true],
    ['> 2.0', '1.9', false],
    // Epochs outweigh everything after them.
    ['>= 1:1.0', '2.0', false],
    ['>= 1:1.0', '1:0.9', false],
    ['>= 1:1.0', '1:1.0', true],
    ['<< 1:0', '9999', true],
    ['>= 0:2.0', '2.0', true],
    // A tilde sorts before the end of the string.
    ['>= 1.0', '1.0~rc1', false],
    ['>= 1.0~', '1.0~rc1', true],
    ['<< 1.0', '1.0~rc1', true],
    ['>= 1.0~rc1', '1.0~beta', false],
    ['>= 2.36-9~', '2.36-9~deb12u1', true],
  ];
  for (const [relation, version, ok] of cases) {
    it(`b ${version} ${ok ? 'satisfies' : 'does not satisfy'} b (${relation})`, () => {
      const pkgs: Pkg[] = [{ name: 'a', depends: `b (${relation}) | fallback` }, { name: 'b', version }, { name: 'fallback' }];
      const r = lockOf(pkgs, ['a']);
      expect(names(r)).toEqual(ok ? ['a', 'b'] : ['a', 'fallback']);
    });
  }

  it('accepts relations written without spaces', () => {
    const r = lockOf([{ name: 'a', depends: 'b(>=1:1.0~rc1)' }, { name: 'b', version: '1:1.0' }], ['a']);
    expect(versions(r)).toEqual({ a: '1.0', b: '1:1.0' });
  });
});

describe('resolve: virtual packages', () => {
  it('satisfies a dependency on a virtual name through its only provider', () => {
    const r = lockOf([{ name: 'a', depends: 'mail-transport-agent' }, { name: 'exim', provides: 'mail-transport-agent' }], ['a']);
    expect(names(r)).toEqual(['a', 'exim']);
    expect(r.reasons.get('exim')).toMatchObject({ by: 'a', relation: 'mail-transport-agent' });
  });

  it('prefers a requested provider', () => {
    // Without the requested zeta, alpha would win (required beats optional).
    const pkgs: Pkg[] = [
      { name: 'a', depends: 'virt' },
      { name: 'alpha', provides: 'virt', priority: 'required' },
      { name: 'zeta', provides: 'virt', priority: 'optional' },
    ];
    expect(names(lockOf(pkgs, ['a']))).toEqual(['a', 'alpha']);
    expect(names(lockOf(pkgs, ['a', 'zeta']))).toEqual(['a', 'zeta']);
  });

  it('prefers the real package of the same name over providers', () => {
    const r = lockOf(
      [
        { name: 'a', depends: 'foo' },
        { name: 'bar', provides: 'foo', essential: true, priority: 'required' },
        { name: 'foo', priority: 'extra' },
      ],
      ['a'],
    );
    expect(names(r)).toEqual(['a', 'foo']);
  });

  it('prefers an Essential provider over a better priority', () => {
    const r = lockOf(
      [
        { name: 'a', depends: 'virt' },
        { name: 'aaa', provides: 'virt', essential: true, priority: 'extra' },
        { name: 'zzz', provides: 'virt', priority: 'required' },
      ],
      ['a'],
    );
    expect(names(r)).toEqual(['a', 'aaa']);
  });

  const ranks = ['required', 'important', 'standard', 'optional', 'extra'];
  for (let i = 0; i + 1 < ranks.length; i++) {
    it(`prefers a ${ranks[i]} provider over an ${ranks[i + 1]} one`, () => {
      // The better one has the earlier name, so the name tie-break alone would pick the other.
      const r = lockOf(
        [
          { name: 'a', depends: 'virt' },
          { name: 'p-better', provides: 'virt', priority: ranks[i]! },
          { name: 'p-worse', provides: 'virt', priority: ranks[i + 1]! },
        ],
        ['a'],
      );
      expect(names(r)).toEqual(['a', 'p-better']);
    });
  }

  it('breaks a full tie by taking the name apt saw later (reverse name order)', () => {
    const pkgs = (order: string[]): Pkg[] => [{ name: 'a', depends: 'virt' }, ...order.map((n) => ({ name: n, provides: 'virt', priority: 'optional' }))];
    expect(names(lockOf(pkgs(['alpha', 'mike', 'zulu']), ['a']))).toEqual(['a', 'zulu']);
    expect(names(lockOf(pkgs(['zulu', 'mike', 'alpha']), ['a']))).toEqual(['a', 'zulu']);
  });

  it('satisfies a versioned dependency with a versioned Provides', () => {
    const r = lockOf([{ name: 'a', depends: 'foo (>= 2)' }, { name: 'foo-ng', version: '7.1', provides: 'foo (= 2.0)' }], ['a']);
    expect(names(r)).toEqual(['a', 'foo-ng']);
  });

  it('does not satisfy a versioned dependency with a versioned Provides out of range', () => {
    const e = failure(() => lockOf([{ name: 'a', depends: 'foo (>= 2)' }, { name: 'foo-ng', version: '7.1', provides: 'foo (= 1.5)' }], ['a']), 'ERR_OTA_UNSATISFIABLE');
    expect(text(e)).toContain('foo-ng 7.1');
  });

  it('does not satisfy a versioned dependency with an unversioned Provides', () => {
    const pkgs: Pkg[] = [{ name: 'a', depends: 'foo (>= 2)' }, { name: 'foo-ng', version: '7.1', provides: 'foo' }];
    const e = failure(() => lockOf(pkgs, ['a']), 'ERR_OTA_UNSATISFIABLE');
    expect(e.details.join('\n')).toContain('provided by foo-ng 7.1, but not in a version that satisfies it');
    // ...while an unversioned dependency is fine with it.
    expect(names(lockOf([{ name: 'a', depends: 'foo' }, { name: 'foo-ng', provides: 'foo' }], ['a']))).toEqual(['a', 'foo-ng']);
  });

  it('installs the only provider of a requested virtual name', () => {
    const r = lockOf([{ name: 'exim', provides: 'mail-transport-agent', depends: 'libc' }, { name: 'libc' }], ['mail-transport-agent']);
    expect(names(r)).toEqual(['exim', 'libc']);
    expect(r.roots).toEqual(['exim']);
    expect(r.reasons.get('exim')).toEqual({ kind: 'requested' });
  });

  it('refuses a requested virtual name with several providers, listing them', () => {
    const pkgs: Pkg[] = [
      { name: 'postfix', provides: 'mail-transport-agent' },
      { name: 'exim', provides: 'mail-transport-agent' },
    ];
    const e = failure(() => lockOf(pkgs, ['mail-transport-agent']), 'ERR_OTA_UNKNOWN_PACKAGE');
    expect(e.message).toContain('exim, postfix');
    expect(e.message).toContain('virtual');
    expect(e.hint).toBeDefined();
  });

  it('installs a requested virtual name through the one provider that is not excluded', () => {
    const pkgs: Pkg[] = [
      { name: 'postfix', provides: 'mail-transport-agent' },
      { name: 'exim', provides: 'mail-transport-agent' },
    ];
    expect(names(lockOf(pkgs, ['mail-transport-agent'], { exclude: ['postfix'] }))).toEqual(['exim']);
  });

  it('considers only the candidate version of a provider', () => {
    // The newer candidate of foo-ng dropped the Provides, so foo has no provider any more.
    const sources: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'a', depends: 'foo' }, { name: 'foo-ng', version: '1.0', provides: 'foo' }] },
      { suite: 'updates', packages: [{ name: 'foo-ng', version: '2.0' }] },
    ];
    failure(() => lockOf(sources, ['a']), 'ERR_OTA_UNSATISFIABLE');
  });
});

describe('resolve: Multi-Arch', () => {
  it('satisfies `:any` with a Multi-Arch: allowed package', () => {
    const r = lockOf([{ name: 'a', depends: 'python3:any' }, { name: 'python3', multiArch: 'allowed' }], ['a']);
    expect(names(r)).toEqual(['a', 'python3']);
  });

  it('does not satisfy `:any` with a package that is not Multi-Arch: allowed', () => {
    for (const multiArch of [undefined, 'same', 'foreign'] as const) {
      const e = failure(() => lockOf([{ name: 'a', depends: 'python3:any' }, { name: 'python3', multiArch }], ['a']), 'ERR_OTA_UNSATISFIABLE');
      expect(e.message).toContain('python3:any');
    }
  });

  it('falls through `:any` on a plain package to the next alternative', () => {
    const r = lockOf([{ name: 'a', depends: 'perl:any | perl-base' }, { name: 'perl' }, { name: 'perl-base' }], ['a']);
    expect(names(r)).toEqual(['a', 'perl-base']);
  });

  it('satisfies `:native` with the image\'s own packages and arch: all ones', () => {
    const r = lockOf([{ name: 'a', depends: 'b:native, c:native' }, { name: 'b' }, { name: 'c', arch: 'all' }], ['a']);
    expect(names(r)).toEqual(['a', 'b', 'c']);
  });

  it('satisfies a qualifier naming the image\'s architecture', () => {
    const r = lockOf([{ name: 'a', arch: 'arm64', depends: 'b:arm64' }, { name: 'b', arch: 'arm64' }], ['a'], {}, 'arm64');
    expect(names(r)).toEqual(['a', 'b']);
  });

  it('cannot satisfy a qualifier naming another architecture', () => {
    const pkgs: Pkg[] = [
      { name: 'a', depends: 'b:i386' },
      { name: 'b', arch: 'i386' },
      { name: 'b', arch: 'amd64', multiArch: 'foreign' },
    ];
    const e = failure(() => lockOf(pkgs, ['a']), 'ERR_OTA_UNSATISFIABLE');
    expect(e.message).toContain('b:i386');
  });

  it('cannot satisfy a qualifier naming another architecture with an arch: all package', () => {
    // dpkg treats arch: all as the native architecture; there is no i386 in a single-arch image.
    const pkgs: Pkg[] = [{ name: 'a', depends: 'b:i386' }, { name: 'b', arch: 'all', multiArch: 'foreign' }];
    failure(() => lockOf(pkgs, ['a']), 'ERR_OTA_UNSATISFIABLE');
  });

  it('accepts a requested `name:arch` for the image\'s architecture', () => {
    for (const archQualifier of ['amd64', 'native', 'any']) {
      expect(names(lockOf([{ name: 'b', depends: 'c' }, { name: 'c' }], [{ name: 'b', archQualifier }]))).toEqual(['b', 'c']);
    }
  });

  it('refuses a requested `name:arch` for another architecture instead of installing the native one', () => {
    const e = failure(() => lockOf([{ name: 'b' }, { name: 'b', arch: 'i386' }], [{ name: 'b', archQualifier: 'i386' }]), 'ERR_OTA_UNKNOWN_PACKAGE');
    expect(e.message).toContain('b:i386');
    expect(e.message).toContain('amd64');
  });

  it('includes Architecture: all packages', () => {
    const r = lockOf([{ name: 'a', depends: 'data' }, { name: 'data', arch: 'all' }], ['a']);
    expect(r.selected.get('data')?.architecture).toBe('all');
  });

  it('ignores packages of another architecture in the index', () => {
    const pkgs: Pkg[] = [
      { name: 'a', depends: 'lib' },
      { name: 'lib', version: '9.0', arch: 'arm64' },
      { name: 'lib', version: '1.0', arch: 'amd64' },
      { name: 'armonly', arch: 'arm64' },
    ];
    expect(versions(lockOf(pkgs, ['a']))).toEqual({ a: '1.0', lib: '1.0' });
    failure(() => lockOf(pkgs, ['armonly']), 'ERR_OTA_UNKNOWN_PACKAGE');
    failure(() => lockOf([...pkgs, { name: 'b', depends: 'armonly' }], ['b']), 'ERR_OTA_UNSATISFIABLE');
  });

  it('ignores providers of another architecture', () => {
    const pkgs: Pkg[] = [{ name: 'a', depends: 'virt' }, { name: 'p', arch: 'arm64', provides: 'virt' }];
    failure(() => lockOf(pkgs, ['a']), 'ERR_OTA_UNSATISFIABLE');
  });

  it('keeps Multi-Arch: same in the selection and the lockfile', () => {
    const r = lockOf([{ name: 'a', depends: 'libfoo1' }, { name: 'libfoo1', multiArch: 'same' }], ['a']);
    expect(r.selected.get('libfoo1')?.multiArch).toBe('same');
    const header: LockHeader = {
      version: '1',
      image: 'test',
      architecture: 'amd64',
      variant: 'none',
      recommends: false,
      manifestSha256: '0'.repeat(64),
      requested: ['a'],
      exclude: [],
      sources: [],
    };
    const lock = formatLock(header, r.selected.values());
    expect(lock).toMatch(/Package: libfoo1\nVersion: 1\.0\nArchitecture: amd64\nMulti-Arch: same\n/);
  });
});

describe('resolve: Conflicts and Breaks', () => {
  for (const field of ['conflicts', 'breaks'] as const) {
    it(`skips an alternative that ${field} with a selected package`, () => {
      const r = lockOf([{ name: 'a', depends: 'x | y' }, { name: 'x', [field]: 'a' }, { name: 'y' }], ['a']);
      expect(names(r)).toEqual(['a', 'y']);
    });

    it(`skips an alternative that a selected package ${field}`, () => {
      const r = lockOf([{ name: 'a', depends: 'x | y', [field]: 'x' }, { name: 'x' }, { name: 'y' }], ['a']);
      expect(names(r)).toEqual(['a', 'y']);
    });
  }

  it('skips a provider that conflicts with a selected package for the next provider', () => {
    const r = lockOf(
      [
        { name: 'a', depends: 'virt' },
        { name: 'zeta', provides: 'virt', conflicts: 'a' },
        { name: 'alpha', provides: 'virt' },
      ],
      ['a'],
    );
    expect(names(r)).toEqual(['a', 'alpha']);
  });

  it('catches providers when conflicting with a virtual name', () => {
    const r = lockOf(
      [
        { name: 'a', depends: 'b, x | y' },
        { name: 'b', conflicts: 'virt' },
        { name: 'x', provides: 'virt' },
        { name: 'y' },
      ],
      ['a'],
    );
    expect(names(r)).toEqual(['a', 'b', 'y']);
  });

  it('does not let a package that provides and conflicts with a virtual name conflict with itself', () => {
    const r = lockOf(
      [
        { name: 'a', depends: 'mail-transport-agent' },
        { name: 'postfix', provides: 'mail-transport-agent', conflicts: 'mail-transport-agent' },
      ],
      ['a'],
    );
    expect(names(r)).toEqual(['a', 'postfix']);
    expect(names(lockOf([{ name: 'postfix', provides: 'mta', conflicts: 'mta', breaks: 'postfix (<< 1.0)' }], ['postfix']))).toEqual(['postfix']);
  });

  it('makes two providers that each conflict with the virtual name exclusive', () => {
    const pkgs: Pkg[] = [
      { name: 'a', depends: 'exim' },
      { name: 'exim', provides: 'mta', conflicts: 'mta' },
      { name: 'postfix', provides: 'mta', conflicts: 'mta' },
    ];
    expect(names(lockOf(pkgs, ['a']))).toEqual(['a', 'exim']);
    const e = failure(() => lockOf(pkgs, ['exim', 'postfix']), 'ERR_OTA_UNSATISFIABLE');
    expect(e.message).toContain('postfix');
    expect(e.message).toContain('exim');
  });

  it('applies a versioned conflict only when the other version is in range', () => {
    const pkgs = (aVersion: string): Pkg[] => [
      { name: 'a', version: aVersion, depends: 'x | y' },
      { name: 'x', breaks: 'a (<< 2.0)' },
      { name: 'y' },
    ];
    expect(names(lockOf(pkgs('1.0'), ['a']))).toEqual(['a', 'y']);
    expect(names(lockOf(pkgs('2.0'), ['a']))).toEqual(['a', 'x']);
    expect(names(lockOf(pkgs('1:1.0'), ['a']))).toEqual(['a', 'x']);
  });

  it('does not let an unversioned Provides match a versioned conflict', () => {
    const pkgs: Pkg[] = [
      { name: 'a', depends: 'b, x | y' },
      { name: 'b', conflicts: 'virt (<< 2)' },
      { name: 'x', provides: 'virt' },
      { name: 'y' },
    ];
    expect(names(lockOf(pkgs, ['a']))).toEqual(['a', 'b', 'x']);
    const versioned = pkgs.map((p) => (p.name === 'x' ? { ...p, provides: 'virt (= 1.0)' } : p));
    expect(names(lockOf(versioned, ['a']))).toEqual(['a', 'b', 'y']);
  });

  it('rejects two requested packages that conflict, naming both', () => {
    const e = failure(() => lockOf([{ name: 'sysvinit-core', conflicts: 'systemd-sysv' }, { name: 'systemd-sysv' }], ['systemd-sysv', 'sysvinit-core']), 'ERR_OTA_UNSATISFIABLE');
    expect(e.message).toContain('sysvinit-core');
    expect(e.message).toContain('systemd-sysv');
    expect(e.details).toEqual(['sysvinit-core: requested by the manifest', 'systemd-sysv: requested by the manifest']);
    expect(e.hint).toMatch(/exclude/);
  });

  it('rejects a requested package that Breaks an Essential one under minbase', () => {
    const e = failure(
      () => lockOf([{ name: 'base', essential: true, priority: 'required' }, { name: 'evil', breaks: 'base' }], ['evil'], { variant: 'minbase' }),
      'ERR_OTA_UNSATISFIABLE',
    );
    expect(e.details).toContain('base: Essential: yes (variant minbase)');
  });

  it('explains a dependency whose only choice conflicts with a selected package', () => {
    const e = failure(() => lockOf([{ name: 'a', depends: 'b, c' }, { name: 'b' }, { name: 'c', conflicts: 'b' }], ['a']), 'ERR_OTA_UNSATISFIABLE');
    expect(e.message).toBe('cannot satisfy a 1.0 Depends: c');
    expect(e.details[0]).toBe('needed by: (requested) a');
    expect(e.details.join('\n')).toContain('c 1.0 clashes with b 1.0');
    expect(e.details.join('\n')).toContain('Depends of a (b)');
  });
});

describe('resolve: variant minbase and exclude', () => {
  const base: Pkg[] = [
    { name: 'base-files', essential: true, priority: 'required', depends: 'libc' },
    { name: 'dash', essential: true, priority: 'required' },
    { name: 'libc', priority: 'optional' },
    { name: 'mawk', priority: 'required' },
    { name: 'less', priority: 'important' },
    { name: 'vim', priority: 'optional' },
    { name: 'ess-only', essential: true, priority: 'optional' },
  ];

  it('makes Essential: yes and Priority: required packages roots', () => {
    const r = lockOf(base, [], { variant: 'minbase' });
    expect(names(r)).toEqual(['base-files', 'dash', 'ess-only', 'libc', 'mawk']);
    expect(r.roots).toEqual(['base-files', 'dash', 'ess-only', 'mawk']);
    expect(r.reasons.get('dash')).toEqual({ kind: 'essential' });
    expect(r.reasons.get('ess-only')).toEqual({ kind: 'essential' });
    expect(r.reasons.get('mawk')).toEqual({ kind: 'required' });
    expect(r.reasons.get('libc')).toEqual({ kind: 'dependency', by: 'base-files', field: 'Depends', relation: 'libc' });
  });

  it("holds a minbase package at the manifest's pin (=VERSION or /SUITE), though minbase pulls it in first", () => {
    const sources: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'tzdata', version: '2024a', priority: 'required' }, { name: 'dash', version: '1', essential: true, priority: 'required' }] },
      { suite: 'updates', packages: [{ name: 'tzdata', version: '2026f', priority: 'required' }] },
    ];
    expect(versions(lockOf(sources, [], { variant: 'minbase' })).tzdata).toBe('2026f');
    expect(versions(lockOf(sources, [{ name: 'tzdata', version: '2024a' }], { variant: 'minbase' })).tzdata).toBe('2024a');
    expect(versions(lockOf(sources, [{ name: 'tzdata', suite: 'stable' }], { variant: 'minbase' })).tzdata).toBe('2024a');
    // and it holds when a dependency, not a root, brings the package in
    const dep: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'app', depends: 'lib' }, { name: 'lib', version: '1' }] },
      { suite: 'updates', packages: [{ name: 'lib', version: '2' }] },
    ];
    expect(versions(lockOf(dep, ['app', { name: 'lib', version: '1' }])).lib).toBe('1');
  });

  it('adds nothing of its own with variant none', () => {
    expect(names(lockOf(base, ['vim']))).toEqual(['vim']);
  });

  it('orders roots essential, then required, then requested', () => {
    const r = lockOf(base, ['vim'], { variant: 'minbase' });
    expect(r.roots).toEqual(['base-files', 'dash', 'ess-only', 'mawk', 'vim']);
    expect(r.reasons.get('vim')).toEqual({ kind: 'requested' });
  });

  it('lets `exclude` remove a required package', () => {
    const r = lockOf(base, [], { variant: 'minbase', exclude: ['mawk', 'dash'] });
    expect(names(r)).toEqual(['base-files', 'ess-only', 'libc']);
  });

  it('fails when an excluded package is needed by a dependency with no alternative', () => {
    const e = failure(() => lockOf(base, [], { variant: 'minbase', exclude: ['libc'] }), 'ERR_OTA_UNSATISFIABLE');
    expect(e.message).toContain('base-files');
    expect(e.details).toContain('libc: excluded by the manifest');
    expect(e.details[0]).toBe('needed by: (essential) base-files');
  });

  it('takes the next alternative when the first is excluded', () => {
    const r = lockOf([{ name: 'a', depends: 'x | y' }, { name: 'x' }, { name: 'y' }], ['a'], { exclude: ['x'] });
    expect(names(r)).toEqual(['a', 'y']);
  });

  it('mentions excluded providers when nothing else satisfies a dependency', () => {
    const e = failure(() => lockOf([{ name: 'a', depends: 'virt' }, { name: 'p', provides: 'virt' }], ['a'], { exclude: ['p'] }), 'ERR_OTA_UNSATISFIABLE');
    expect(e.details.join('\n')).toContain('p 1.0 is excluded');
  });

  it('refuses a package that is both requested and excluded', () => {
    const e = failure(() => lockOf(base, ['vim'], { exclude: ['vim'] }), 'ERR_OTA_MANIFEST');
    expect(e.message).toContain('vim');
  });
});

describe('resolve: Recommends', () => {
  const pkgs: Pkg[] = [
    { name: 'a', depends: 'b', recommends: 'r1, r2 | r3, gone, r4 (>= 5)' },
    { name: 'b', recommends: 'r3' },
    { name: 'r1', depends: 'r1dep' },
    { name: 'r1dep' },
    { name: 'r2', conflicts: 'a' },
    { name: 'r3' },
    { name: 'r4', version: '1.0' },
  ];

  it('ignores Recommends when recommends is false', () => {
    expect(names(lockOf(pkgs, ['a'], { recommends: false }))).toEqual(['a', 'b']);
  });

  it('installs Recommends (and their dependencies) when recommends is true', () => {
    const r = lockOf(pkgs, ['a'], { recommends: true });
    expect(names(r)).toEqual(['a', 'b', 'r1', 'r1dep', 'r3']);
    expect(r.reasons.get('r1')).toEqual({ kind: 'dependency', by: 'a', field: 'Recommends', relation: 'r1' });
  });

  it('skips an unsatisfiable Recommends silently', () => {
    // `gone` has no package and r4 is too old: neither raises.
    const r = lockOf([{ name: 'a', recommends: 'gone, r4 (>= 5), r5' }, { name: 'r4', version: '1.0' }, { name: 'r5' }], ['a'], { recommends: true });
    expect(names(r)).toEqual(['a', 'r5']);
  });

  it('still fails on an unsatisfiable Depends of a recommended package', () => {
    failure(() => lockOf([{ name: 'a', recommends: 'r' }, { name: 'r', depends: 'gone' }], ['a'], { recommends: true }), 'ERR_OTA_UNSATISFIABLE');
  });
});

describe('resolve: candidate policy', () => {
  it('takes the highest version across suites of equal priority', () => {
    const sources: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'a', depends: 'b' }, { name: 'b', version: '1.0-1' }] },
      { suite: 'updates', packages: [{ name: 'b', version: '1.0-2' }] },
      { suite: 'old', packages: [{ name: 'b', version: '0.9' }] },
    ];
    const r = lockOf(sources, ['a']);
    expect(versions(r)).toEqual({ a: '1.0', b: '1.0-2' });
    expect(r.selected.get('b')?.origin.suite).toBe('updates');
  });

  it('lets a higher source priority beat a higher version', () => {
    const sources: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'a', depends: 'b' }, { name: 'b', version: '1.0' }] },
      { suite: 'backports', priority: 100, packages: [{ name: 'b', version: '2.0' }] },
    ];
    expect(versions(lockOf(sources, ['a']))).toEqual({ a: '1.0', b: '1.0' });
    const raised: TestSource[] = [sources[0]!, { ...sources[1]!, priority: 990 }];
    expect(versions(lockOf(raised, ['a']))).toEqual({ a: '1.0', b: '2.0' });
  });

  it('never chooses a version from a source with priority below 0', () => {
    const sources: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'a', depends: 'b' }, { name: 'b', version: '1.0' }] },
      { suite: 'blocked', priority: -1, packages: [{ name: 'b', version: '2.0' }, { name: 'c' }] },
    ];
    expect(versions(lockOf(sources, ['a']))).toEqual({ a: '1.0', b: '1.0' });
    failure(() => lockOf(sources, ['c']), 'ERR_OTA_UNKNOWN_PACKAGE');
    failure(() => lockOf(sources, [{ name: 'b', version: '2.0' }]), 'ERR_OTA_UNKNOWN_PACKAGE');
  });

  it('pins `name=version`, also for dependencies on it', () => {
    const sources: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'a', depends: 'b' }, { name: 'b', version: '1.0' }, { name: 'b', version: '2.0' }] },
    ];
    expect(versions(lockOf(sources, ['a', { name: 'b', version: '1.0' }]))).toEqual({ a: '1.0', b: '1.0' });
    expect(versions(lockOf(sources, [{ name: 'a' }]))).toEqual({ a: '1.0', b: '2.0' });
  });

  it('makes a pinned version the candidate, so its Provides count', () => {
    // Only b 1.0 provides virt; a pin must make it the candidate that provider lookups see.
    const pkgs: Pkg[] = [{ name: 'a', depends: 'virt' }, { name: 'b', version: '1.0', provides: 'virt' }, { name: 'b', version: '2.0' }];
    failure(() => lockOf(pkgs, ['b', 'a']), 'ERR_OTA_UNSATISFIABLE');
    expect(versions(lockOf(pkgs, [{ name: 'b', version: '1.0' }, 'a']))).toEqual({ a: '1.0', b: '1.0' });
    const sources: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'a', depends: 'virt' }, { name: 'b', version: '2.0' }] },
      { suite: 'old', packages: [{ name: 'b', version: '1.0', provides: 'virt' }] },
    ];
    expect(versions(lockOf(sources, [{ name: 'b', suite: 'old' }, 'a']))).toEqual({ a: '1.0', b: '1.0' });
  });

  it('pins `name=version` to a lower-priority source', () => {
    const sources: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'b', version: '1.0' }] },
      { suite: 'backports', priority: 100, packages: [{ name: 'b', version: '2.0' }] },
    ];
    const r = lockOf(sources, [{ name: 'b', version: '2.0' }]);
    expect(r.selected.get('b')?.origin.suite).toBe('backports');
  });

  it('refuses a `name=version` pin to a version no source has, listing the versions', () => {
    const e = failure(() => lockOf([{ name: 'b', version: '1.0' }, { name: 'b', version: '2.0' }], [{ name: 'b', version: '3.0' }]), 'ERR_OTA_UNKNOWN_PACKAGE');
    expect(e.message).toContain('b=3.0');
    expect(e.message).toContain('2.0, 1.0');
  });

  it('pins `name/suite` to the best version of that suite', () => {
    const sources: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'a', depends: 'b (>= 1.5)' }, { name: 'b', version: '1.0' }] },
      { suite: 'backports', priority: 100, packages: [{ name: 'b', version: '2.0' }, { name: 'b', version: '2.1' }] },
    ];
    failure(() => lockOf(sources, ['a']), 'ERR_OTA_UNSATISFIABLE');
    const r = lockOf(sources, ['a', { name: 'b', suite: 'backports' }]);
    expect(versions(r)).toEqual({ a: '1.0', b: '2.1' });
    expect(r.selected.get('b')?.origin.suite).toBe('backports');
  });

  it('pins `name/suite` when that suite has the same version as a better one', () => {
    // testing and unstable often carry the same version; `b/unstable` must still work.
    const sources: TestSource[] = [
      { suite: 'testing', packages: [{ name: 'b', version: '2.0' }] },
      { suite: 'unstable', priority: 100, packages: [{ name: 'b', version: '2.0' }] },
    ];
    const r = lockOf(sources, [{ name: 'b', suite: 'unstable' }]);
    expect(versions(r)).toEqual({ b: '2.0' });
    expect(r.selected.get('b')?.origin.suite).toBe('unstable');
  });

  it('refuses a `name/suite` pin to a suite without the package, naming the suites that have it', () => {
    const sources: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'b' }] },
      { suite: 'backports', packages: [{ name: 'c' }] },
    ];
    const e = failure(() => lockOf(sources, [{ name: 'b', suite: 'backports' }]), 'ERR_OTA_UNKNOWN_PACKAGE');
    expect(e.message).toContain('not in suite backports');
    expect(e.message).toContain('stable');
  });

  it('keeps a previously locked version while it is still available', () => {
    const sources = (): TestSource[] => [
      { suite: 'stable', packages: [{ name: 'a', depends: 'b' }, { name: 'b', version: '1.0' }] },
      { suite: 'updates', packages: [{ name: 'b', version: '1.1' }] },
    ];
    const prefer = new Map([['b', '1.0'], ['a', '1.0']]);
    expect(versions(lockOf(sources(), ['a'], { prefer }))).toEqual({ a: '1.0', b: '1.0' });
    expect(versions(lockOf(sources(), ['a']))).toEqual({ a: '1.0', b: '1.1' });
  });

  it('moves on from a previously locked version that is gone', () => {
    const prefer = new Map([['b', '0.9']]);
    const r = lockOf([{ name: 'a', depends: 'b' }, { name: 'b', version: '1.0' }, { name: 'b', version: '1.1' }], ['a'], { prefer });
    expect(versions(r)).toEqual({ a: '1.0', b: '1.1' });
  });

  it('lets a `name=version` pin override a previously locked version', () => {
    const r = lockOf([{ name: 'b', version: '1.0' }, { name: 'b', version: '1.1' }], [{ name: 'b', version: '1.1' }], { prefer: new Map([['b', '1.0']]) });
    expect(versions(r)).toEqual({ b: '1.1' });
  });

  it('returns the pins it followed and leaves the universe it was given unpinned, so a second resolve of it starts afresh', () => {
    const sources: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'a', depends: 'b, c' }, { name: 'b', version: '1.0' }, { name: 'c', version: '1.0' }] },
      { suite: 'updates', packages: [{ name: 'b', version: '1.1' }, { name: 'c', version: '1.1' }] },
    ];
    const u = universe(sources);
    const r = run(u, ['a', { name: 'b', suite: 'stable' }], { prefer: new Map([['c', '1.0']]) });
    expect(versions(r)).toEqual({ a: '1.0', b: '1.0', c: '1.0' });
    expect(r.pins).toEqual(new Map([['c', { version: '1.0' }], ['b', { suite: 'stable' }]]));
    expect(u.candidate('b')?.version).toBe('1.1');
    expect(versions(run(u, ['a']))).toEqual({ a: '1.0', b: '1.1', c: '1.1' });
  });

  it('ignores prefer entries for packages that are not needed', () => {
    const r = lockOf([{ name: 'a' }, { name: 'old' }], ['a'], { prefer: new Map([['old', '1.0']]) });
    expect(names(r)).toEqual(['a']);
  });
});

describe('resolve: errors', () => {
  const pkgs: Pkg[] = [{ name: 'openssh-server' }, { name: 'openssh-client' }, { name: 'openssl' }, { name: 'zsh' }, { name: 'bash' }];

  it('names close matches for an unknown package', () => {
    const e = failure(() => lockOf(pkgs, ['opensh-server']), 'ERR_OTA_UNKNOWN_PACKAGE');
    expect(e.message).toContain('opensh-server');
    expect(e.message).toContain('amd64');
    expect(e.hint).toMatch(/^close names: openssh-server/);
    expect(e.hint).not.toContain('zsh');
    expect(e.hint).not.toContain('bash');
  });

  it('lists names containing the one asked for', () => {
    const e = failure(() => lockOf(pkgs, ['openssh']), 'ERR_OTA_UNKNOWN_PACKAGE');
    expect(e.hint).toContain('openssh-server');
    expect(e.hint).toContain('openssh-client');
  });

  it('hints at sources when nothing is close', () => {
    const e = failure(() => lockOf(pkgs, ['kubernetes-node']), 'ERR_OTA_UNKNOWN_PACKAGE');
    expect(e.hint).not.toContain('close names');
    expect(e.hint).toMatch(/sources/);
  });

  it('explains an unsatisfiable versioned dependency with the chain and the versions', () => {
    const sources: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'a', depends: 'b' }, { name: 'b', version: '2.0', depends: 'libc' }, { name: 'libc', version: '2.0', depends: 'c (>= 3)' }, { name: 'c', version: '2.0' }] },
      { suite: 'old', packages: [{ name: 'c', version: '1.0' }] },
    ];
    const e = failure(() => lockOf(sources, ['a']), 'ERR_OTA_UNSATISFIABLE');
    expect(e.message).toBe('cannot satisfy libc 2.0 Depends: c (>= 3)');
    expect(e.details[0]).toBe('needed by: (requested) a -> b -> libc');
    expect(e.details).toContain('c (>= 3): the candidate is 2.0 (versions available: 2.0, 1.0)');
    expect(e.hint).toMatch(/pin another version/);
  });

  it('shows the two-step chain from a requested root', () => {
    const e = failure(() => lockOf([{ name: 'a', depends: 'b' }, { name: 'b', depends: 'c (>= 2)' }, { name: 'c', version: '1.5' }], ['a']), 'ERR_OTA_UNSATISFIABLE');
    expect(e.details[0]).toBe('needed by: (requested) a -> b');
    expect(e.details).toContain('c (>= 2): the candidate is 1.5');
  });

  it('lists versions a lower-priority source has that would satisfy the dependency', () => {
    const sources: TestSource[] = [
      { suite: 'stable', packages: [{ name: 'a', depends: 'c (>= 3)' }, { name: 'c', version: '2.0' }] },
      { suite: 'backports', priority: 100, packages: [{ name: 'c', version: '3.1' }] },
    ];
    const e = failure(() => lockOf(sources, ['a']), 'ERR_OTA_UNSATISFIABLE');
    expect(e.details).toContain('c (>= 3): the candidate is 2.0 (versions available: 2.0, 3.1)');
  });

  it('explains every alternative of an unsatisfiable or-group', () => {
    const e = failure(() => lockOf([{ name: 'a', depends: 'x (>= 2) | y' }, { name: 'x', version: '1.0' }], ['a']), 'ERR_OTA_UNSATISFIABLE');
    expect(e.message).toBe('cannot satisfy a 1.0 Depends: x (>= 2) | y');
    expect(e.details).toEqual(['needed by: (requested) a', 'x (>= 2): the candidate is 1.0', 'y: no source has it for amd64']);
  });

  it('names the field in the message', () => {
    const e = failure(() => lockOf([{ name: 'a', preDepends: 'gone' }], ['a']), 'ERR_OTA_UNSATISFIABLE');
    expect(e.message).toBe('cannot satisfy a 1.0 Pre-Depends: gone');
  });
});

describe('resolve: reasons', () => {
  it('records why each package is in the image', () => {
    const r = lockOf(
      [
        { name: 'ess', essential: true, priority: 'required' },
        { name: 'req', priority: 'required', preDepends: 'pre' },
        { name: 'pre' },
        { name: 'app', depends: 'lib (>= 1) | other', recommends: 'extra' },
        { name: 'lib' },
        { name: 'extra' },
      ],
      ['app'],
      { variant: 'minbase', recommends: true },
    );
    expect(Object.fromEntries(r.reasons)).toEqual({
      ess: { kind: 'essential' },
      req: { kind: 'required' },
      app: { kind: 'requested' },
      pre: { kind: 'dependency', by: 'req', field: 'Pre-Depends', relation: 'pre' },
      lib: { kind: 'dependency', by: 'app', field: 'Depends', relation: 'lib (>= 1) | other' },
      extra: { kind: 'dependency', by: 'app', field: 'Recommends', relation: 'extra' },
    });
    expect(describeReason(r.reasons.get('lib')!)).toBe('Depends of app (lib (>= 1) | other)');
    expect(describeReason(r.reasons.get('app')!)).toBe('requested by the manifest');
    expect(describeReason(r.reasons.get('req')!)).toBe('Priority: required (variant minbase)');
  });

  it('keeps the first reason of a package that is both Essential and requested', () => {
    const r = lockOf([{ name: 'dash', essential: true, priority: 'required' }], ['dash'], { variant: 'minbase' });
    expect(r.reasons.get('dash')).toEqual({ kind: 'essential' });
    expect(r.roots).toEqual(['dash']);
  });

  it('has a reason for every selected package', () => {
    const r = lockOf([{ name: 'a', depends: 'b, c | d', preDepends: 'e' }, { name: 'b', depends: 'c' }, { name: 'c' }, { name: 'd' }, { name: 'e', depends: 'a' }], ['a']);
    expect([...r.reasons.keys()].sort()).toEqual(names(r));
  });
});
