import { mkdir, mkdtemp, readdir, readFile, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { Repo, batch, commitTar, readDeb } from '../../../node-ostree/index.js';
import { dpkgDatabase, type DbFile } from '../../../host-tools/compose/dpkg-db.js';
import { unpackedFromRepo } from '../../../host-tools/compose/unpacked.js';
import { debControlRef, debDataRef } from '../../../host-tools/compose/plan-debs.js';
import { buildArchive, makeGpgKey, type FixturePackage } from '../../helpers/fixture-archive.js';

// The stage-1 database must be what dpkg itself writes when it unpacks the same debs: compare
// with a real `dpkg --root=DIR --unpack` into an empty root.
let dir: string;
let debPaths: string[];
let ours: Map<string, DbFile>;

const PACKAGES: FixturePackage[] = [
  { name: 'base', version: '1.0-1', arch: 'amd64', essential: true, priority: 'required', section: 'admin', files: { '/usr/bin/base': '#!/bin/sh\n', '/etc/base.conf': 'a=1\n' }, conffiles: ['/etc/base.conf'], scripts: { postinst: '#!/bin/sh\nexit 0\n', prerm: '#!/bin/sh\nexit 0\n' }, extraControl: { Homepage: 'https://example.invalid/base' }, triggers: 'interest-noawait /usr/share/base-hooks\ninterest fx-named\n' },
  { name: 'libsame1', version: '2:1.2~rc1-3', arch: 'amd64', multiArch: 'same', depends: 'base (>= 1.0)', provides: 'libsame', files: { '/usr/lib/x86_64-linux-gnu/libsame.so.1': 'elf\n' }, scripts: { postinst: '#!/bin/sh\nexit 0\n' } },
  { name: 'tool', version: '3', arch: 'all', multiArch: 'foreign', depends: 'libsame1', files: { '/usr/share/tool/data': 'd\n', '/usr/share/base-hooks/tool': 'hook\n' }, triggers: 'activate-noawait fx-named\n' },
  { name: 'hooks2', version: '1', arch: 'all', files: { '/usr/share/hooks2/x': 'x\n' }, triggers: 'interest-await /usr/share/hooks2\n' },
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-dpkgdb-'));
  const key = await makeGpgKey(dir);
  const archive = await buildArchive(join(dir, 'archive'), [{ suite: 'stable', arches: ['amd64'], components: { main: PACKAGES } }], { key });
  debPaths = [...archive.debs.values()].map((d) => d.path);
  // A package built without md5sums: dpkg generates them at unpack, and so must we.
  const pkg = join(dir, 'nomd5');
  await mkdir(join(pkg, 'DEBIAN'), { recursive: true });
  await mkdir(join(pkg, 'usr/share/nomd5'), { recursive: true });
  await writeFile(join(pkg, 'usr/share/nomd5/file'), 'content\n');
  await run('ln', ['ln', '-s', 'file', join(pkg, 'usr/share/nomd5/link')]);
  await writeFile(join(pkg, 'DEBIAN/control'), 'Package: nomd5\nVersion: 1\nArchitecture: all\nMaintainer: T <t@example.invalid>\nDescription: no md5sums\n long\n .\n description\n');
  await chmod(join(pkg, 'DEBIAN'), 0o755);
  await run('dpkg-deb', ['dpkg-deb', '--root-owner-group', '--build', pkg, join(dir, 'nomd5.deb')]);
  debPaths.push(join(dir, 'nomd5.deb'));

  // ours: import each deb, read it back, generate the database
  const repo = await Repo.create(join(dir, 'repo'), 'bare-user');
  const shas: string[] = [];
  await batch(repo, async () => {
    for (const p of debPaths) {
      const bytes = await readFile(p);
      const sha = (await run('sha256sum', ['sha256sum', p])).stdout.split(' ')[0]!;
      const deb = readDeb(bytes, p);
      await commitTar(repo, deb.data.bytes, { ref: debDataRef(sha), autocreateParents: true });
      await commitTar(repo, deb.control.bytes, { ref: debControlRef(sha) });
      shas.push(sha);
    }
  });
  ours = dpkgDatabase(await Promise.all(shas.map((s) => unpackedFromRepo(repo, s))));
  repo.close();
});

describe('stage-1 dpkg database', () => {
  it('equals what `dpkg --unpack` writes: status and every info/ file, byte for byte', async () => {
    const root = join(dir, 'root');
    await mkdir(join(root, 'var/lib/dpkg/info'), { recursive: true });
    await mkdir(join(root, 'var/lib/dpkg/updates'), { recursive: true });
    await writeFile(join(root, 'var/lib/dpkg/status'), '');
    await run('dpkg --unpack', ['dpkg', `--root=${root}`, '--force-not-root', '--force-script-chrootless', '--force-depends', '--unpack', ...debPaths]);
    const db = join(root, 'var/lib/dpkg');
    expect(ours.get('status')!.content.toString()).toBe(await readFile(join(db, 'status'), 'utf8'));
    const infoFiles = (await readdir(join(db, 'info'))).sort();
    expect([...ours.keys()].filter((k) => k.startsWith('info/')).map((k) => k.slice(5)).sort()).toEqual(infoFiles);
    for (const name of infoFiles) {
      const mine = ours.get(`info/${name}`)!;
      expect({ name, content: mine.content.toString() }).toEqual({ name, content: await readFile(join(db, 'info', name), 'utf8') });
      expect({ name, mode: mine.mode }).toEqual({ name, mode: (await stat(join(db, 'info', name))).mode & 0o777 });
    }
    // trigger interests registered as dpkg registers them at unpack
    const trigFiles = (await readdir(join(db, 'triggers'))).filter((n) => n !== 'Lock').sort();
    expect([...ours.keys()].filter((k) => k.startsWith('triggers/')).map((k) => k.slice(9)).sort()).toEqual(trigFiles);
    for (const name of trigFiles) expect({ name, content: ours.get(`triggers/${name}`)!.content.toString() }).toEqual({ name, content: await readFile(join(db, 'triggers', name), 'utf8') });
  });

  it('marks conffiles newconffile and names Multi-Arch: same packages with their architecture', () => {
    const status = ours.get('status')!.content.toString();
    expect(status).toContain('Conffiles:\n /etc/base.conf newconffile\n');
    expect(ours.has('info/libsame1:amd64.list')).toBe(true);
    expect(ours.has('info/tool.list')).toBe(true);
    expect(ours.get('info/nomd5.md5sums')!.content.toString()).toBe('f75b8179e4bbe7e2b4a074dcef62de95  usr/share/nomd5/file\n');
  });
});
