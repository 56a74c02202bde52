import { access, mkdtemp, readFile, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { Repo, catFile, checkout, listTree } from '../../../node-ostree/index.js';
import { ensureDebs } from '../../../host-tools/compose/debs.js';
import { buildStage1, type Stage1Result } from '../../../host-tools/compose/stage1.js';
import type { LockedDeb } from '../../../host-tools/compose/plan-debs.js';
import { buildArchive, makeGpgKey, serveDirectory, type FixturePackage } from '../../helpers/fixture-archive.js';

// Stage 1 is right when dpkg itself accepts the tree: `dpkg --audit` sees every package
// unpacked, and `dpkg --configure -a` (its scripts run chrootless with DPKG_ROOT, the host's
// shell standing in for the image's) configures them all, renaming conffiles into place.
const PACKAGES: FixturePackage[] = [
  {
    name: 'base', version: '1', arch: 'amd64', essential: true, priority: 'required',
    files: { '/etc/base.conf': 'a=1\n', '/bin/base': '#!/bin/sh\necho base\n' }, conffiles: ['/etc/base.conf'],
    scripts: { postinst: '#!/bin/sh\nset -e\n[ "$1" = configure ] && touch "$DPKG_ROOT/var/lib/base-configured"\nexit 0\n' },
  },
  { name: 'old', version: '1', arch: 'all', files: { '/usr/share/shared/file': 'old\n', '/usr/share/clash/file': 'mine\n' } },
  { name: 'new', version: '2', arch: 'all', replaces: 'old', files: { '/usr/share/shared/file': 'new\n' } },
  { name: 'other', version: '1', arch: 'all', files: { '/usr/share/clash/file': 'theirs\n' } },
  { name: 'libsbin', version: '1', arch: 'amd64', files: { '/sbin/tool': 'tool\n', '/lib/libx.so.1': 'x\n' } },
];

let dir: string;
let repo: Repo;
let result: Stage1Result;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-stage1-'));
  const key = await makeGpgKey(dir);
  const archive = await buildArchive(join(dir, 'archive'), [{ suite: 'stable', arches: ['amd64'], components: { main: PACKAGES } }], { key });
  const server = await serveDirectory(join(dir, 'archive'));
  const debs: LockedDeb[] = [...archive.debs.entries()].map(([k, d]) => {
    const [name, version, architecture] = k.split('_') as [string, string, string];
    return { name, version, architecture, filename: d.filename, size: d.size, sha256: d.sha256, originUri: server.url };
  });
  repo = await Repo.create(join(dir, 'repo'), 'bare-user');
  await ensureDebs(repo, debs, { cacheDir: join(dir, 'cache') });
  await server.close();
  result = await buildStage1(repo, debs, { ref: 'stage1', timestamp: 1_700_000_000 });
});

describe('buildStage1', () => {
  it('lays the packages out as dpkg leaves them unpacked: merged /usr, conffiles as .dpkg-new, the database on top', () => {
    const paths = listTree(repo, 'stage1', { details: true });
    const byPath = new Map(paths.map((e) => [e.path, e]));
    expect(byPath.get('/bin')?.symlinkTarget).toBe('usr/bin');
    expect(byPath.has('/usr/bin/base')).toBe(true);
    expect(byPath.has('/usr/sbin/tool')).toBe(true);
    expect(byPath.has('/etc/base.conf.dpkg-new')).toBe(true);
    expect(byPath.has('/etc/base.conf')).toBe(false);
    expect(byPath.get('/var/lib/dpkg/status')).toMatchObject({ uid: 0, gid: 0 });
    expect(byPath.get('/')).toBeUndefined();
  });

  it('reports files several packages ship, and whether Replaces declares it; the replacing package wins', async () => {
    expect((await catFile(repo, 'stage1', '/usr/share/shared/file')).toString()).toBe('new\n');
    expect(result.conflicts).toEqual([
      { path: '/usr/share/clash/file', packages: ['old', 'other'], identical: false, declared: false },
      { path: '/usr/share/shared/file', packages: ['old', 'new'], identical: false, declared: true },
    ]);
  });

  it('is a tree dpkg accepts: --audit sees every package unpacked, --configure -a configures them all', async () => {
    const root = join(dir, 'root');
    await checkout(repo, 'stage1', root);
    expect((await readlink(join(root, 'bin')))).toBe('usr/bin');
    const audit = await run('dpkg --audit', ['dpkg', `--root=${root}`, '--audit'], { okCodes: [0, 1] });
    for (const p of ['base', 'new', 'old', 'other', 'libsbin']) expect(audit.stdout).toMatch(new RegExp(`^ ${p} `, 'm'));
    await run('dpkg --configure -a', ['dpkg', `--root=${root}`, '--force-not-root', '--force-script-chrootless', '--configure', '-a']);
    const status = await readFile(join(root, 'var/lib/dpkg/status'), 'utf8');
    expect(status.match(/^Status: install ok installed$/gm)).toHaveLength(5);
    expect(await readFile(join(root, 'etc/base.conf'), 'utf8')).toBe('a=1\n');
    await access(join(root, 'var/lib/base-configured'));
    expect((await run('dpkg --audit', ['dpkg', `--root=${root}`, '--audit'])).stdout.trim()).toBe('');
  });
});
