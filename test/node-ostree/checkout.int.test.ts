import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkout } from '../../node-ostree/checkout.js';
import { commitDirectory, commitHardlinkedCheckout, DevinoCache } from '../../node-ostree/commit.js';
import { OstreeError } from '../../node-ostree/errors.js';
import { Repo } from '../../node-ostree/repo.js';
import { ostree, ostreeLs, removeTree, type LsEntry } from '../helpers/ostree-cli.js';
import { rejectionOf } from '../helpers/errors.js';

// checkout against `ostree checkout`: the binding's checkouts look like the CLI's (modes, owners,
// contents), hardlinks share the repository's inodes, and a hardlinked checkout recommits cheaply.

const isRoot = process.getuid?.() === 0;
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
const T = 1_700_000_000;
let tmp: string;
let repo: Repo; // bare-user
let n = 0;

/** A fresh, not yet existing destination (its parent exists, as libostree requires). */
const dest = (name: string) => join(tmp, 'out', `${name}-${n++}`);

interface DiskEntry extends LsEntry {
  content?: string;
}

/** Every entry under `dir`: type, mode, owner, symlink target and file content. */
async function snapshot(dir: string): Promise<DiskEntry[]> {
  const out: DiskEntry[] = [];
  async function walk(p: string): Promise<void> {
    const st = await lstat(p);
    const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : '-';
    const e: DiskEntry = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, path: `/${relative(dir, p)}`.replace(/\/$/, '') || '/' };
    if (type === 'l') e.target = await readlink(p);
    if (type === '-') e.content = await readFile(p, 'utf8');
    out.push(e);
    if (type === 'd') for (const c of await readdir(p)) await walk(join(p, c));
  }
  await walk(dir);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const strip = (entries: DiskEntry[]): LsEntry[] => entries.map(({ content: _c, ...rest }) => rest);

const rejection = (p: Promise<unknown> | (() => unknown)) => rejectionOf(OstreeError, p);

/** The file holding a content object in a bare/bare-user repository. */
async function objectPath(r: Repo, rev: string, path: string): Promise<string> {
  const cs = (await ostree([`--repo=${r.path}`, 'ls', '-C', rev, path])).trim().split(/\s+/)[4]!;
  return join(r.path, 'objects', cs.slice(0, 2), `${cs.slice(2)}.file`);
}

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [p, content] of Object.entries(files)) {
    await mkdir(join(root, p, '..'), { recursive: true });
    await writeFile(join(root, p), content);
  }
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-checkout-'));
  await mkdir(join(tmp, 'out'));
  repo = await Repo.create(join(tmp, 'repo'), 'bare-user', { disableFsync: true });

  // a: setuid, a foreign owner, symlinks, an empty file, a private directory
  const a = join(tmp, 'a');
  await writeTree(a, { 'usr/bin/tool': '#!/bin/sh\n', 'usr/bin/su': 'setuid\n', 'usr/share/doc/x/README': 'readme\n', 'usr/share/doc/x/empty': '', 'etc/conf': 'from a\n', 'etc/only-a': 'a\n' });
  await chmod(join(a, 'usr/bin/tool'), 0o755);
  await chmod(join(a, 'usr/bin/su'), 0o4755);
  await symlink('conf', join(a, 'etc/link'));
  await mkdir(join(a, 'var/private'), { recursive: true });
  await chmod(join(a, 'var/private'), 0o700);
  if (isRoot) await chown(join(a, 'etc/conf'), 1234, 1234);
  await commitDirectory(repo, a, { ref: 'os/a', timestamp: T, skipXattrs: true });

  // b: overlaps a (etc/conf) and adds files
  const b = join(tmp, 'b');
  await writeTree(b, { 'etc/conf': 'from b\n', 'etc/only-b': 'b\n', 'usr/bin/b-tool': 'b\n' });
  await commitDirectory(repo, b, { ref: 'os/b', timestamp: T, skipXattrs: true });
});
afterAll(async () => {
  repo?.close();
  if (tmp) await removeTree(tmp);
});

describe('checkout', () => {
  it('in user mode writes files owned by the caller, without setuid, as `ostree checkout -U`', async () => {
    const ours = dest('user');
    await checkout(repo, 'os/a', ours, { userMode: true });
    const cli = dest('user-cli');
    await ostree([`--repo=${repo.path}`, 'checkout', '-U', 'os/a', cli]);
    const snap = await snapshot(ours);
    expect(snap).toEqual(await snapshot(cli));
    expect(snap.filter((e) => e.type !== 'l').every((e) => e.uid === uid && e.gid === gid)).toBe(true);
    expect(snap.every((e) => (e.mode & 0o7000) === 0)).toBe(true);
    expect(snap.find((e) => e.path === '/usr/bin/su')?.mode).toBe(0o755);
    expect(snap.find((e) => e.path === '/etc/link')?.target).toBe('conf');
    expect(snap.find((e) => e.path === '/var/private')?.mode).toBe(0o700);
    expect(snap.find((e) => e.path === '/usr/share/doc/x/empty')?.content).toBe('');
  });

  it.runIf(isRoot)('in the default mode keeps owners and setuid, as `ostree ls -R` lists them', async () => {
    const ours = dest('root');
    await checkout(repo, 'os/a', ours);
    const snap = await snapshot(ours);
    expect(strip(snap)).toEqual(await ostreeLs(repo.path, 'os/a'));
    expect(snap.find((e) => e.path === '/usr/bin/su')?.mode).toBe(0o4755);
    expect(snap.find((e) => e.path === '/etc/conf')).toMatchObject({ uid: 1234, gid: 1234, content: 'from a\n' });
    const cli = dest('root-cli');
    await ostree([`--repo=${repo.path}`, 'checkout', 'os/a', cli]);
    expect(snap).toEqual(await snapshot(cli));
  });

  it('in hardlink mode links files to the repository objects (same inode)', async () => {
    const ours = dest('hardlink');
    await checkout(repo, 'os/a', ours, { userMode: true, hardlink: true });
    for (const p of ['/usr/bin/tool', '/usr/share/doc/x/README', '/etc/only-a']) {
      const [file, object] = await Promise.all([stat(join(ours, p)), stat(await objectPath(repo, 'os/a', p))]);
      expect(file.ino).toBe(object.ino);
      expect(file.dev).toBe(object.dev);
      expect(file.nlink).toBeGreaterThanOrEqual(2);
    }
    // hardlink: false copies
    const copied = dest('copy');
    await checkout(repo, 'os/a', copied, { userMode: true, hardlink: false });
    const [file, object] = await Promise.all([stat(join(copied, 'usr/bin/tool')), stat(await objectPath(repo, 'os/a', '/usr/bin/tool'))]);
    expect(file.ino).not.toBe(object.ino);
    expect(await snapshot(copied)).toEqual(await snapshot(ours));
  });

  it('refuses to hardlink where libostree cannot (bare-user without user mode, archive)', async () => {
    const e = await rejection(checkout(repo, 'os/a', dest('no-user'), { hardlink: true }));
    expect(e.gmessage).toContain('requires user checkout mode');
    const archive = await Repo.create(join(tmp, 'archive'), 'archive', { disableFsync: true });
    try {
      await commitDirectory(archive, join(tmp, 'b'), { ref: 'os/b' });
      const target = dest('archive');
      const a = await rejection(checkout(archive, 'os/b', target, { userMode: true, hardlink: true }));
      expect(a.message).toContain(target);
      // the default falls back to copying
      await checkout(archive, 'os/b', dest('archive-copy'), { userMode: true });
    } finally {
      archive.close();
    }
  });

  it('unions a second commit over the first (later files win), as `ostree checkout --union`', async () => {
    const ours = dest('union');
    await checkout(repo, 'os/a', ours, { userMode: true });
    const e = await rejection(checkout(repo, 'os/b', ours, { userMode: true }));
    expect(e.domain).toBe('g-io-error-quark');
    expect(e.message).toContain(ours);
    await checkout(repo, 'os/b', ours, { userMode: true, union: true });
    expect(await readFile(join(ours, 'etc/conf'), 'utf8')).toBe('from b\n');
    expect(await readFile(join(ours, 'etc/only-a'), 'utf8')).toBe('a\n');
    expect(await readFile(join(ours, 'etc/only-b'), 'utf8')).toBe('b\n');
    expect(await readFile(join(ours, 'usr/bin/b-tool'), 'utf8')).toBe('b\n');
    const cli = dest('union-cli');
    await ostree([`--repo=${repo.path}`, 'checkout', '-U', 'os/a', cli]);
    await ostree([`--repo=${repo.path}`, 'checkout', '-U', '--union', 'os/b', cli]);
    expect(await snapshot(ours)).toEqual(await snapshot(cli));
  });

  it('checks out a subpath only, as `ostree checkout --subpath`', async () => {
    const ours = dest('subpath');
    await checkout(repo, 'os/a', ours, { userMode: true, subpath: '/usr/share' });
    expect(await readdir(ours)).toEqual(['doc']);
    const cli = dest('subpath-cli');
    await ostree([`--repo=${repo.path}`, 'checkout', '-U', '--subpath=/usr/share', 'os/a', cli]);
    expect(await snapshot(ours)).toEqual(await snapshot(cli));
    const e = await rejection(checkout(repo, 'os/a', dest('subpath-missing'), { userMode: true, subpath: '/no/such' }));
    expect(e.notFound).toBe(true);
  });

  it('rejects a missing revision before touching the destination', async () => {
    const target = dest('missing-rev');
    const e = await rejection(checkout(repo, 'no-such-ref', target, { userMode: true }));
    expect(e.message).toContain('no-such-ref');
    await expect(stat(target)).rejects.toThrow(/ENOENT/);
  });
});

describe('commitHardlinkedCheckout', () => {
  it('recommits a hardlinked checkout with one file changed: same checksum as a full commit, unchanged files from the devino cache', async () => {
    // a tree a user-mode checkout reproduces exactly: caller-owned, no setuid
    const src = join(tmp, 'c');
    await writeTree(src, { 'usr/bin/x': '#!/bin/sh\n', 'usr/lib/libx.so': 'lib\n', 'usr/share/x/data': 'data\n', 'etc/x.conf': 'old\n' });
    await chmod(join(src, 'usr/bin/x'), 0o755);
    await symlink('libx.so', join(src, 'usr/lib/libx.so.1'));
    const original = await commitDirectory(repo, src, { ref: 'os/c', timestamp: T, skipXattrs: true });

    const devino = new DevinoCache();
    try {
      const co = dest('devino');
      await checkout(repo, 'os/c', co, { userMode: true, hardlink: true, devino });
      // replace (never edit in place: the file is the repository's object)
      await unlink(join(co, 'etc/x.conf'));
      await writeFile(join(co, 'etc/x.conf'), 'new\n');

      const fast = await commitHardlinkedCheckout(repo, co, devino, { ref: 'os/c', parent: 'os/c', timestamp: T + 1 });
      expect(fast.checksum).not.toBe(original.checksum);
      expect(fast.stats.devinoCacheHits).toBe(3); // x, libx.so, data (the symlink is not a hardlink)
      expect(fast.stats.contentWritten).toBe(1);
      expect(repo.resolve('os/c^')).toBe(original.checksum);

      const full = await commitDirectory(repo, co, { parent: original.checksum, timestamp: T + 1, skipXattrs: true });
      expect(full.checksum).toBe(fast.checksum);
      expect(full.stats.devinoCacheHits).toBe(0);
      const cli = (await ostree([`--repo=${repo.path}`, 'commit', '--orphan', '--no-bindings', `--parent=${original.checksum}`, `--tree=dir=${co}`, '--no-xattrs', `--timestamp=@${T + 1}`])).trim();
      expect(cli).toBe(fast.checksum);
      // reading the hardlinked files' xattrs picks up bare-user's user.ostreemeta, in the CLI as here
      const withXattrs = await commitDirectory(repo, co, { parent: original.checksum, timestamp: T + 1 });
      expect(withXattrs.checksum).not.toBe(fast.checksum);
      expect((await ostree([`--repo=${repo.path}`, 'commit', '--orphan', '--no-bindings', `--parent=${original.checksum}`, `--tree=dir=${co}`, `--timestamp=@${T + 1}`])).trim()).toBe(withXattrs.checksum);

      const diff = await ostree([`--repo=${repo.path}`, 'diff', original.checksum, fast.checksum]);
      expect(diff.trim().split('\n')).toEqual(['M    /etc/x.conf']);
      await ostree([`--repo=${repo.path}`, 'fsck']);
    } finally {
      devino.free();
    }
  });
});
