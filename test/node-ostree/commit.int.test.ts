import { randomBytes } from 'node:crypto';
import { chmod, chown, link, lstat, mkdir, mkdtemp, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../common/exec.js';
import { commitDirectory, commitTar } from '../../node-ostree/commit.js';
import { OstreeError } from '../../node-ostree/errors.js';
import { Repo } from '../../node-ostree/repo.js';
import { ostree, ostreeLs, removeTree, type LsEntry } from '../helpers/ostree-cli.js';
import { rejectionOf } from '../helpers/errors.js';

// commitDirectory against `ostree commit`: the same tree and options give the same checksum, and
// what the binding wrote reads back through the CLI (ls, show, log, refs).

const isRoot = process.getuid?.() === 0;
const T = 1_700_000_000;
let tmp: string;
let tree: string;
let archive: Repo;
let bareUser: Repo;

/** The objects a repository holds, as relative paths under objects/. */
async function objectFiles(repo: Repo): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(repo.path, 'objects'))) for (const f of await readdir(join(repo.path, 'objects', d))) out.push(`${d}/${f}`);
  return out.sort();
}

/** `ostree commit` of a directory with options equivalent to the binding's defaults (no ref binding metadata). */
async function cliCommit(repo: Repo, dir: string, extra: string[] = []): Promise<string> {
  return (await ostree([`--repo=${repo.path}`, 'commit', '--orphan', '--no-bindings', `--tree=dir=${dir}`, `--timestamp=@${T}`, ...extra])).trim();
}

/** What `ostree ls -R` should show for a directory on disk (lstat of every entry). */
async function lsOfDisk(dir: string): Promise<LsEntry[]> {
  const out: LsEntry[] = [];
  async function walk(p: string): Promise<void> {
    const st = await lstat(p);
    const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : '-';
    const path = `/${relative(dir, p)}`.replace(/\/$/, '') || '/';
    out.push({ type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, path, ...(type === 'l' ? { target: await readlink(p) } : {}) });
    if (type === 'd') for (const e of await readdir(p)) await walk(join(p, e));
  }
  await walk(dir);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const rejection = (p: Promise<unknown> | (() => unknown)) => rejectionOf(OstreeError, p);

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-commit-'));
  tree = join(tmp, 'tree');
  for (const d of ['usr/bin', 'usr/share/doc', 'etc', 'var/empty']) await mkdir(join(tree, d), { recursive: true });
  await writeFile(join(tree, 'usr/bin/tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  await writeFile(join(tree, 'usr/bin/su'), 'ELF setuid\n', { mode: 0o755 });
  await chmod(join(tree, 'usr/bin/su'), 0o4755);
  await writeFile(join(tree, 'usr/share/doc/a'), 'same bytes\n');
  await writeFile(join(tree, 'usr/share/doc/b'), 'same bytes\n'); // one content object for both
  await writeFile(join(tree, 'etc/conf'), 'key=value\n');
  await writeFile(join(tree, 'etc/secret'), 'shh\n', { mode: 0o600 });
  await symlink('tool', join(tree, 'usr/bin/link'));
  await symlink('/usr/share/doc/a', join(tree, 'etc/abs'));
  await chmod(join(tree, 'var/empty'), 0o700);
  if (isRoot) {
    await chown(join(tree, 'etc/secret'), 0, 42);
    await chown(join(tree, 'var/empty'), 1000, 1000);
  }
  // a user xattr on one file (GNU attr may be missing; Python's os.setxattr is enough)
  await run('set a user xattr', ['python3', '-c', 'import os,sys; os.setxattr(sys.argv[1], "user.ota", b"x")', join(tree, 'etc/conf')]);
  archive = await Repo.create(join(tmp, 'archive'), 'archive', { disableFsync: true });
  bareUser = await Repo.create(join(tmp, 'bare-user'), 'bare-user', { disableFsync: true });
});
afterAll(async () => {
  archive?.close();
  bareUser?.close();
  if (tmp) await removeTree(tmp);
});

describe('commitDirectory', () => {
  it('gives the checksum `ostree commit` gives for the same tree and options', async () => {
    const cases: [Parameters<typeof commitDirectory>[2], string[]][] = [
      [{ timestamp: T }, []],
      [{ timestamp: T, skipXattrs: true }, ['--no-xattrs']],
      [{ timestamp: T, canonicalPermissions: true, skipXattrs: true }, ['--canonical-permissions', '--no-xattrs']],
      [{ timestamp: T, subject: 'Debian 12 image', body: 'line one\n\nline three' }, ['--subject=Debian 12 image', '--body=line one\n\nline three']],
    ];
    const seen = new Set<string>();
    for (const [opts, flags] of cases) {
      const ours = (await commitDirectory(archive, tree, opts)).checksum;
      expect(ours).toBe(await cliCommit(archive, tree, flags));
      seen.add(ours);
    }
    // the options do change the commit (xattrs, permissions, message)
    expect(seen.size).toBe(cases.length);
    // and the repository mode does not
    expect((await commitDirectory(bareUser, tree, { timestamp: T, skipXattrs: true })).checksum).toBe(await cliCommit(archive, tree, ['--no-xattrs']));
  });

  it('writes parent, metadata and ref like `ostree commit --parent --add-metadata-string -b`', async () => {
    // a{sv} bytes made by the CLI: detached metadata of a throw-away commit
    const scratch = await cliCommit(archive, tree, ['--add-detached-metadata-string=version=12.5']);
    const metadata = archive.readDetachedMetadata(scratch)!;
    const parent = (await commitDirectory(archive, tree, { timestamp: T, ref: 'os/parent' })).checksum;
    const ours = await commitDirectory(archive, tree, { timestamp: T, parent, metadata, subject: 's', ref: 'os/child' });
    const cli = await cliCommit(archive, tree, [`--parent=${parent}`, '--add-metadata-string=version=12.5', '--subject=s']);
    expect(ours.checksum).toBe(cli);
    expect((await ostree([`--repo=${archive.path}`, 'rev-parse', 'os/child'])).trim()).toBe(ours.checksum);
    expect((await ostree([`--repo=${archive.path}`, 'rev-parse', 'os/child^'])).trim()).toBe(parent);
    expect((await ostree([`--repo=${archive.path}`, 'show', '--print-metadata-key=version', 'os/child'])).trim()).toBe("'12.5'");
    // parent given as a ref
    expect((await commitDirectory(archive, tree, { timestamp: T, parent: 'os/parent', metadata, subject: 's' })).checksum).toBe(cli);
  });

  it('makes subject, body and history visible in `ostree show` and `ostree log`', async () => {
    const repo = await Repo.create(join(tmp, 'log'), 'archive', { disableFsync: true });
    try {
      const one = await commitDirectory(repo, tree, { ref: 'os', timestamp: T, subject: 'first image', body: 'built from lock 1' });
      const two = await commitDirectory(repo, tree, { ref: 'os', parent: 'os', timestamp: T + 60, subject: 'second image', body: 'built from lock 2' });
      const show = await ostree([`--repo=${repo.path}`, 'show', 'os']);
      expect(show).toContain(`commit ${two.checksum}`);
      expect(show).toContain(`Parent:  ${one.checksum}`);
      expect(show).toContain('Date:  2023-11-14 22:14:20 +0000');
      expect(show).toMatch(/second image\n\n\s+built from lock 2/);
      const log = await ostree([`--repo=${repo.path}`, 'log', 'os']);
      expect(log.indexOf(`commit ${two.checksum}`)).toBeGreaterThanOrEqual(0);
      expect(log.indexOf(`commit ${one.checksum}`)).toBeGreaterThan(log.indexOf(`commit ${two.checksum}`));
      expect(log).toContain('first image');
      expect(log).toContain('built from lock 1');
    } finally {
      repo.close();
    }
  });

  it('is reproducible: the same tree twice is the same commit, and the second writes nothing', async () => {
    const repo = await Repo.create(join(tmp, 'repro'), 'bare-user', { disableFsync: true });
    try {
      const first = await commitDirectory(repo, tree, { ref: 'one' });
      const second = await commitDirectory(repo, tree, { ref: 'two' });
      expect(second.checksum).toBe(first.checksum);
      // distinct content objects: tool, su, doc (a = b), conf, secret, two symlinks
      expect(first.stats.contentWritten).toBe(7);
      expect(first.stats.contentBytesWritten).toBeGreaterThan(0);
      expect(first.stats.metadataWritten).toBeGreaterThanOrEqual(3);
      expect(first.stats.devinoCacheHits).toBe(0);
      expect(second.stats).toEqual({ metadataWritten: 0, contentWritten: 0, contentBytesWritten: 0, devinoCacheHits: 0 });
      // a new timestamp: only the commit object is new
      const third = await commitDirectory(repo, tree, { timestamp: T });
      expect(third.checksum).not.toBe(first.checksum);
      expect(third.stats).toMatchObject({ metadataWritten: 1, contentWritten: 0 });
      // the metadata count is what `ostree ls -R -C` reaches (dirtrees + dirmetas) plus the commit
      const reachable = new Set((await ostree([`--repo=${repo.path}`, 'ls', '-R', '-C', first.checksum])).match(/\b[0-9a-f]{64}\b/g));
      expect(first.stats.metadataWritten + first.stats.contentWritten).toBe(reachable.size + 1);
      expect(repo.listRefs()).toEqual(new Map([['one', first.checksum], ['two', first.checksum]]));
    } finally {
      repo.close();
    }
  });

  it('keeps modes (setuid), owners and symlinks as `ostree ls -R` shows them', async () => {
    const { checksum } = await commitDirectory(bareUser, tree, { ref: 'modes' });
    const listed = await ostreeLs(bareUser.path, checksum);
    expect(listed).toEqual(await lsOfDisk(tree));
    expect(listed.find((e) => e.path === '/usr/bin/su')?.mode).toBe(0o4755);
    expect(listed.find((e) => e.path === '/usr/bin/link')).toMatchObject({ type: 'l', target: 'tool' });
    expect(listed.find((e) => e.path === '/etc/abs')).toMatchObject({ type: 'l', target: '/usr/share/doc/a' });
    if (isRoot) expect(listed.find((e) => e.path === '/var/empty')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o700 });
    // canonical permissions: everything root-owned, modes masked with 0755 (setuid gone, 0600 stays)
    const canon = await commitDirectory(bareUser, tree, { canonicalPermissions: true });
    const expected = listed.map((e) => ({ ...e, uid: 0, gid: 0, mode: e.type === 'l' ? e.mode : e.mode & 0o755 }));
    expect(await ostreeLs(bareUser.path, canon.checksum)).toEqual(expected);
    expect(expected.find((e) => e.path === '/usr/bin/su')?.mode).toBe(0o755);
    expect(expected.find((e) => e.path === '/etc/secret')?.mode).toBe(0o600);
  });

  it('records an owner override for every entry, modes kept, like `ostree commit --owner-uid/--owner-gid`', async () => {
    const { checksum } = await commitDirectory(bareUser, tree, { owner: { uid: 0, gid: 4242 }, timestamp: T });
    const listed = await ostreeLs(bareUser.path, checksum);
    expect(listed.every((e) => e.uid === 0 && e.gid === 4242)).toBe(true);
    expect(listed.find((e) => e.path === '/usr/bin/su')?.mode).toBe(0o4755);
    expect(checksum).toBe(await cliCommit(bareUser, tree, ['--owner-uid=0', '--owner-gid=4242']));
  });

  it('fails on a missing directory with an OstreeError and creates no ref', async () => {
    const missing = join(tmp, 'no-such-dir');
    const before = await objectFiles(archive);
    const e = await rejection(commitDirectory(archive, missing, { ref: 'never' }));
    expect(e.notFound).toBe(true);
    expect(e.message).toContain(missing);
    expect(e.message).toContain('committing');
    expect(archive.resolve('never', { allowMissing: true })).toBeUndefined();
    expect(await ostree([`--repo=${archive.path}`, 'refs'])).not.toContain('never');
    expect(await objectFiles(archive)).toEqual(before);
  });

  it('aborts the transaction on an unsupported file half-way: no ref, no new objects', async () => {
    const bad = join(tmp, 'bad-tree');
    await mkdir(join(bad, 'a'), { recursive: true });
    await writeFile(join(bad, 'a/new-content'), 'only in the bad tree\n');
    await run('mkfifo', ['mkfifo', join(bad, 'a/zz-fifo')]);
    // with fsync on, objects are staged until the transaction commits (with it off they go
    // straight to objects/, unreferenced, as the binding documents)
    const synced = await Repo.open(bareUser.path);
    const before = await objectFiles(synced);
    const e = await rejection(commitDirectory(synced, bad, { ref: 'never' }));
    synced.close();
    expect(e.message).toContain(bad);
    expect(e.message).toContain('zz-fifo');
    expect(bareUser.listRefs().has('never')).toBe(false);
    expect(await objectFiles(bareUser)).toEqual(before);
    // and the repository still takes commits
    expect((await commitDirectory(bareUser, join(tree, 'etc'), { ref: 'after' })).checksum).toMatch(/^[0-9a-f]{64}$/);
    await ostree([`--repo=${bareUser.path}`, 'fsck']);
  });
});

// commitTar with the data member of real .debs: what `dpkg-deb -c` lists is what `ostree ls -R`
// shows, and the checksum is the one `ostree commit --tree=tar=` gives.

const compressions = [
  { z: 'xz', member: 'data.tar.xz' },
  { z: 'gzip', member: 'data.tar.gz' },
  { z: 'zstd', member: 'data.tar.zst' },
  { z: 'none', member: 'data.tar' },
] as const;

/** `dpkg-deb -c` as `ostree ls -R` entries (hardlinks are regular files in a commit). */
async function dpkgContents(deb: string): Promise<LsEntry[]> {
  const out = await run('dpkg-deb -c', ['dpkg-deb', '-c', deb], { env: { ...process.env, LC_ALL: 'C.UTF-8', TZ: 'UTC' } });
  const entries: LsEntry[] = [];
  for (const line of out.stdout.split('\n').filter(Boolean)) {
    const m = /^([-dlh])([-rwxsStT]{9}) (\S+)\/(\S+) +\d+ \S+ \S+ \.\/(.*?)(?: -> (.*)| link to .*)?$/.exec(line);
    if (!m) throw new Error(`unexpected dpkg-deb -c line: ${line}`);
    const p = m[2]!;
    let mode = 0;
    for (let i = 0; i < 9; i++) if (!'-ST'.includes(p[i]!)) mode |= 1 << (8 - i);
    if ('sS'.includes(p[2]!)) mode |= 0o4000;
    if ('sS'.includes(p[5]!)) mode |= 0o2000;
    if ('tT'.includes(p[8]!)) mode |= 0o1000;
    const ids: Record<string, number> = { root: 0 };
    const type = m[1] === 'h' ? '-' : m[1]!;
    entries.push({ type, mode, uid: ids[m[3]!]!, gid: ids[m[4]!]!, path: `/${m[5]!.replace(/\/$/, '')}`, ...(m[6] !== undefined ? { target: m[6] } : {}) });
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

describe('commitTar', () => {
  let pkgDir: string;
  const data = new Map<string, Buffer>();
  const dataFile = new Map<string, string>();
  let repo: Repo;

  beforeAll(async () => {
    pkgDir = join(tmp, 'pkg');
    const root = join(pkgDir, 'root');
    for (const d of ['DEBIAN', 'usr/bin', 'usr/lib/x', 'usr/share/doc/x', 'etc/x', 'var/lib/x']) await mkdir(join(root, d), { recursive: true });
    await writeFile(join(root, 'DEBIAN/control'), 'Package: x\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Test <t@example.org>\nDescription: test package\n');
    await writeFile(join(root, 'usr/bin/x'), '#!/bin/sh\necho x\n', { mode: 0o755 });
    await writeFile(join(root, 'usr/bin/x-su'), 'setuid\n');
    await chmod(join(root, 'usr/bin/x-su'), 0o4755);
    await symlink('x', join(root, 'usr/bin/x-link'));
    await writeFile(join(root, 'usr/lib/x/blob'), randomBytes(256 * 1024)); // big enough to cut in the middle
    await link(join(root, 'usr/lib/x/blob'), join(root, 'usr/lib/x/blob-hardlink'));
    await writeFile(join(root, 'usr/share/doc/x/copyright'), 'Public domain.\n');
    await writeFile(join(root, 'usr/share/doc/x/name with spaces'), 'spaces\n');
    await writeFile(join(root, 'etc/x/x.conf'), 'x=1\n');
    await writeFile(join(root, 'etc/x/secret'), 'shh\n', { mode: 0o600 });
    await chmod(join(root, 'var/lib/x'), 0o700);
    for (const { z, member } of compressions) {
      const deb = join(pkgDir, `x-${z}.deb`);
      await run('dpkg-deb --build', ['dpkg-deb', '--root-owner-group', `-Z${z}`, '--build', root, deb]);
      const bytes = (await run('ar p', ['ar', 'p', deb, member], { binary: true })).stdout;
      data.set(z, bytes);
      const file = join(pkgDir, member);
      await writeFile(file, bytes);
      dataFile.set(z, file);
    }
    repo = await Repo.create(join(tmp, 'tar'), 'bare-user', { disableFsync: true });
  });
  afterAll(() => repo?.close());

  it.each(compressions.map((c) => c.z))('commits the %s data member with the files, modes and owners `dpkg-deb -c` lists', async (z) => {
    const { checksum } = await commitTar(repo, data.get(z)!, { ref: `x/${z}`, timestamp: T, source: `x-${z}.deb` });
    expect(repo.resolve(`x/${z}`)).toBe(checksum);
    const listed = await ostreeLs(repo.path, checksum);
    expect(listed).toEqual(await dpkgContents(join(pkgDir, `x-${z}.deb`)));
    expect(listed.find((e) => e.path === '/usr/bin/x-su')?.mode).toBe(0o4755);
    expect(listed.find((e) => e.path === '/var/lib/x')?.mode).toBe(0o700);
    expect(listed.find((e) => e.path === '/usr/bin/x-link')?.target).toBe('x');
    // the hardlink is the same content object
    const cs = async (p: string) => (await ostree([`--repo=${repo.path}`, 'ls', '-C', checksum, p])).trim().split(/\s+/)[4];
    expect(await cs('/usr/lib/x/blob-hardlink')).toBe(await cs('/usr/lib/x/blob'));
  });

  it('gives the checksum of `ostree commit --tree=tar=` (xz, gzip, none), and zstd the same one', async () => {
    const ours = new Map<string, string>();
    for (const { z } of compressions) ours.set(z, (await commitTar(repo, data.get(z)!, { timestamp: T, autocreateParents: true })).checksum);
    const cli = async (z: string) =>
      (await ostree([`--repo=${repo.path}`, 'commit', '--orphan', '--no-bindings', `--tree=tar=${dataFile.get(z)}`, '--tar-autocreate-parents', `--timestamp=@${T}`])).trim();
    expect(ours.get('xz')).toBe(await cli('xz'));
    expect(ours.get('gzip')).toBe(await cli('gzip'));
    expect(ours.get('none')).toBe(await cli('none'));
    expect(ours.get('zstd')).toBe(ours.get('xz'));
    // without autocreateParents too (a dpkg-deb member lists every directory)
    expect((await commitTar(repo, data.get('xz')!, { timestamp: T })).checksum).toBe(ours.get('xz'));
    // and the same tree unpacked by dpkg-deb -x and committed as a directory (root keeps the owners)
    if (isRoot) {
      const unpacked = join(tmp, 'unpacked');
      await run('dpkg-deb -x', ['dpkg-deb', '-x', join(pkgDir, 'x-xz.deb'), unpacked]);
      expect((await commitDirectory(repo, unpacked, { timestamp: T, skipXattrs: true })).checksum).toBe(ours.get('xz'));
    }
  });

  it('creates missing parents only when asked', async () => {
    // a tar whose only entry is a deep file, no directory entries
    const flat = join(tmp, 'flat');
    await mkdir(join(flat, 'a/b'), { recursive: true });
    await writeFile(join(flat, 'a/b/c'), 'deep\n');
    const tarBytes = (await run('tar', ['tar', '-C', flat, '--owner=0', '--group=0', '--numeric-owner', '--no-recursion', '-cf', '-', 'a/b/c'], { binary: true })).stdout;
    await writeFile(join(tmp, 'flat.tar'), tarBytes);
    const e = await rejection(commitTar(repo, tarBytes, { ref: 'flat', source: 'flat.tar' }));
    expect(e.message).toContain('flat.tar');
    expect(repo.resolve('flat', { allowMissing: true })).toBeUndefined();
    const ok = await commitTar(repo, tarBytes, { ref: 'flat', autocreateParents: true, timestamp: T });
    const cli = (await ostree([`--repo=${repo.path}`, 'commit', '--orphan', '--no-bindings', `--tree=tar=${join(tmp, 'flat.tar')}`, '--tar-autocreate-parents', `--timestamp=@${T}`])).trim();
    expect(ok.checksum).toBe(cli);
    expect((await ostreeLs(repo.path, 'flat')).map((x) => `${x.type}${x.mode.toString(8)} ${x.path}`)).toEqual(['d755 /', 'd755 /a', 'd755 /a/b', '-644 /a/b/c']);
  });

  it.each([
    ['garbage', () => Buffer.from('this is not a tar archive\n'.repeat(40))],
    ['a tar cut in the middle of a file', () => data.get('none')!.subarray(0, Math.floor(data.get('none')!.length / 2))],
    ['xz with a flipped byte', () => {
      const b = Buffer.from(data.get('xz')!);
      b[Math.floor(b.length / 2)]! ^= 0xff;
      return b;
    }],
    ['gzip cut short', () => data.get('gzip')!.subarray(0, data.get('gzip')!.length - 100)],
  ])('rejects %s with an OstreeError and leaves the repository as it was', async (_name, make) => {
    const synced = await Repo.open(repo.path); // fsync on: objects are staged until commit
    try {
      const before = await objectFiles(synced);
      const refsBefore = await ostree([`--repo=${repo.path}`, 'refs']);
      const e = await rejection(commitTar(synced, make(), { ref: 'corrupt', source: 'corrupt.deb', timestamp: T }));
      expect(e.code).toBe('ERR_OTA_OSTREE');
      expect(e.message).toContain('corrupt.deb');
      expect(synced.resolve('corrupt', { allowMissing: true })).toBeUndefined();
      expect(await ostree([`--repo=${repo.path}`, 'refs'])).toBe(refsBefore);
      expect(await objectFiles(synced)).toEqual(before);
    } finally {
      synced.close();
    }
  });
});
