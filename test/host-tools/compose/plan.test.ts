import { describe, expect, it } from 'vitest';
import { formatLock, readLock, type Lock, type LockHeader } from '../../../host-tools/lock/lockfile.js';
import { buildRef, planImage, RECIPE_VERSION, splitBuilt, type PlanInput } from '../../../host-tools/compose/plan.js';

// The build plan is data: these tests read real lockfile text (formatLock/readLock) and check what
// the key of a build follows. A key that misses an input would reuse a stale image for a new lock.

const SHA = 'a'.repeat(64);
const URI = 'http://mirror.example/debian';

interface LockSpec {
  arch: string;
  /** The two sources' dates: the newest is the commit time, the oldest the scripts' epoch. */
  dates: [string, string];
  debs: Record<string, string>;
  board?: { sha256: string; packages: string[] };
}

const BASE: LockSpec = {
  arch: 'arm64',
  dates: ['2025-05-17T09:00:00Z', '2025-06-01T12:00:00Z'],
  debs: { bash: '1'.repeat(64), libc6: '2'.repeat(64), 'linux-image-arm64': '3'.repeat(64) },
  board: { sha256: 'b'.repeat(64), packages: ['linux-image-arm64'] },
};

function stanza(name: string, sha: string, arch: string): string {
  return `Package: ${name}\nVersion: 1\nArchitecture: ${arch}\nFilename: pool/main/${name}_1_${arch}.deb\nSize: 10\nSHA256: ${sha}\nOrigin-Uri: ${URI}\nOrigin-Suite: bookworm\nOrigin-Component: main\n`;
}

function makeLock(s: LockSpec): Lock {
  const header: LockHeader = {
    version: '1',
    image: 'gw',
    architecture: s.arch,
    variant: 'none',
    recommends: false,
    manifestSha256: SHA,
    requested: ['bash'],
    exclude: [],
    ...(s.board ? { board: { name: 'fxboard', sha256: s.board.sha256, packages: s.board.packages, components: [] } } : {}),
    sources: s.dates.map((date, i) => ({ spec: 'host', uri: URI, suite: i === 0 ? 'bookworm' : 'bookworm-updates', components: ['main'], priority: 500, inReleaseSha256: SHA, date })),
  };
  const seed = `Lockfile-Version: 1\nImage: x\nArchitecture: ${s.arch}\nVariant: none\nRecommends: no\nManifest-SHA256: ${SHA}\nSources:\n host ${URI} bookworm main 500 ${SHA} -\n\n`;
  const packages = readLock(seed + Object.entries(s.debs).map(([n, sha]) => stanza(n, sha, s.arch)).join('\n'), 'seed').packages.values();
  return readLock(formatLock(header, packages), 'gw.lock');
}

function plan(s: LockSpec, more: Partial<PlanInput> = {}) {
  const boardParts = s.board ? { ownNames: new Set(['bash', 'libc6']), rootModules: ['ext4'] } : undefined;
  return planImage({ input: 'gw.lock', lockPath: 'gw.lock', lock: makeLock(s), lockSha256: SHA, fallbacks: [], boardParts, ...more });
}

const withDeb = (name: string, sha: string): LockSpec => ({ ...BASE, debs: { ...BASE.debs, [name]: sha } });

describe('the build key', () => {
  const base = plan(BASE);

  it('is the same for the same inputs, whatever order the lock lists its packages in', () => {
    expect(plan(BASE).key).toBe(base.key);
    const reversed = Object.fromEntries(Object.entries(BASE.debs).reverse());
    expect(plan({ ...BASE, debs: reversed }).key).toBe(base.key);
    expect(base.key).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each<[string, LockSpec, Partial<PlanInput>?]>([
    ['the recipe version', BASE, { recipe: `${RECIPE_VERSION}-next` }],
    ['the architecture', { ...BASE, arch: 'armhf' }],
    ['the newest source date (the commit time)', { ...BASE, dates: [BASE.dates[0], '2025-06-02T12:00:00Z'] }],
    ['the oldest source date (the scripts\' epoch)', { ...BASE, dates: ['2025-05-18T09:00:00Z', BASE.dates[1]] }],
    ['one deb\'s SHA256', withDeb('libc6', '4'.repeat(64))],
    ['the board\'s package\'s SHA256', withDeb('linux-image-arm64', '5'.repeat(64))],
    ['one more deb', withDeb('less', '6'.repeat(64))],
    ['the board definition\'s hash', { ...BASE, board: { ...BASE.board!, sha256: 'c'.repeat(64) } }],
    ['having a board at all', { ...BASE, board: undefined }],
  ])('follows %s', (_what, spec, more) => {
    expect(plan(spec, more).key).not.toBe(base.key);
  });
});

describe('the rootfs key (the image without its board)', () => {
  const base = plan(BASE);

  it('holds only the image\'s own debs, apart from the board\'s', () => {
    expect(base.rootfs!.debs.map((d) => d.name).sort()).toEqual(['bash', 'libc6']);
    expect(base.rootModules).toEqual(['ext4']);
  });

  it.each<[string, LockSpec]>([
    ['a kernel bump', withDeb('linux-image-arm64', '5'.repeat(64))],
    ['another board definition', { ...BASE, board: { ...BASE.board!, sha256: 'c'.repeat(64) } }],
    ['a newer updates suite (the commit time, not the epoch)', { ...BASE, dates: [BASE.dates[0], '2025-06-02T12:00:00Z'] }],
  ])('stays the same after %s, while the image key moves', (_what, spec) => {
    const p = plan(spec);
    expect(p.rootfs!.key).toBe(base.rootfs!.key);
    expect(p.key).not.toBe(base.key);
  });

  it.each<[string, LockSpec, Partial<PlanInput>?]>([
    ['one of its debs', withDeb('bash', '7'.repeat(64))],
    ['the architecture', { ...BASE, arch: 'armhf' }],
    ['the epoch', { ...BASE, dates: ['2025-05-18T09:00:00Z', BASE.dates[1]] }],
    ['the recipe version', BASE, { recipe: `${RECIPE_VERSION}-next` }],
  ])('follows %s', (_what, spec, more) => {
    expect(plan(spec, more).rootfs!.key).not.toBe(base.rootfs!.key);
  });
});

describe('the plan', () => {
  it('names the ref image/arch/board and dates the commit by the newest source, the scripts by the oldest', () => {
    const p = plan(BASE);
    expect(p.ref).toBe('gw/arm64/fxboard');
    expect(p.timestamp).toBe(Date.parse(BASE.dates[1]) / 1000);
    expect(p.epoch).toBe(Date.parse(BASE.dates[0]) / 1000);
    expect(plan({ ...BASE, board: undefined }).ref).toBe('gw/arm64');
    expect(plan({ ...BASE, board: undefined }).rootfs).toBeUndefined();
  });

  it('splits the plans into those the repository has built already (by key) and the rest', () => {
    const a = plan(BASE);
    const b = plan({ ...BASE, arch: 'armhf' });
    const { cached, todo } = splitBuilt([a, b], new Map([[buildRef(a.key), 'f'.repeat(64)]]));
    expect(cached).toEqual([{ plan: a, checksum: 'f'.repeat(64) }]);
    expect(todo).toEqual([b]);
  });
});
