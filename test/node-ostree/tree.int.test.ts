import { mkdir, mkdtemp, readFile, symlink, writeFile, chmod } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../common/exec.js';
import { Repo, commitDirectory, commitUnion, listTree, catFile, diffCommits, readCommit, exportTar, OstreeError } from '../../node-ostree/index.js';
import { encodeMetadata } from '../../node-ostree/objects.js';
import { GVariantValue } from '../../node-ostree/gvariant.js';

let dir: string;
let repo: Repo;
const ostree = (...args: string[]) => run('ostree', ['ostree', `--repo=${repo.path}`, ...args]);

async function tree(name: string, files: Record<string, string | { link: string } | { mode: number; text: string }>): Promise<string> {
  const root = join(dir, name);
  for (const [p, v] of Object.entries(files)) {
    const full = join(root, p);
    await mkdir(join(full, '..'), { recursive: true });
    if (typeof v === 'string') await writeFile(full, v);
    else if ('link' in v) await symlink(v.link, full);
    else {
      await writeFile(full, v.text);
      await chmod(full, v.mode);
    }
  }
  return root;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-tree-'));
  repo = await Repo.create(join(dir, 'repo'), 'bare-user');
  await commitDirectory(repo, await tree('a', { 'usr/bin/tool': { mode: 0o4755, text: '#!/bin/sh\n' }, 'usr/bin/sh': { link: 'dash' }, 'etc/conf': 'one\n', 'usr/share/doc/a/README': 'a\n' }), {
    ref: 'a',
    subject: 'layer a',
    body: 'the body',
    timestamp: 1_700_000_000,
    metadata: encodeMetadata({ version: new GVariantValue('s', '1.2.3') }),
  });
  await commitDirectory(repo, await tree('b', { 'etc/conf': 'two\n', 'usr/share/doc/b/README': 'b\n', 'usr/bin/tool': { mode: 0o4755, text: '#!/bin/sh\n' } }), { ref: 'b', timestamp: 1_700_000_001 });
});
afterAll(() => repo.close());

describe('reading commits and trees', () => {
  it('decodes the commit as `ostree show` describes it', async () => {
    const c = readCommit(repo, 'a');
    expect(c).toMatchObject({ subject: 'layer a', body: 'the body', timestamp: 1_700_000_000, parent: null });
    expect(c.metadata.get('version')?.value).toBe('1.2.3');
    const shown = (await ostree('show', 'a')).stdout;
    expect(shown).toContain(`commit ${c.checksum}`);
    expect(shown).toContain('2023-11-14 22:13:20 +0000');
    expect((await ostree('show', 'a', '--print-metadata-key=version')).stdout.trim()).toBe("'1.2.3'");
  });

  it('lists the same entries, modes, sizes and links as `ostree ls -R`', async () => {
    const ours = listTree(repo, 'a', { details: true }).map((e) => {
      const kind = e.type === 'directory' ? 'd' : e.symlinkTarget !== undefined ? 'l' : '-';
      return `${kind}0${((e.mode ?? 0) & 0o7777).toString(8).padStart(4, '0')} ${e.uid} ${e.gid} ${e.type === 'directory' ? 0 : e.size} ${e.path}${e.symlinkTarget ? ` -> ${e.symlinkTarget}` : ''}`;
    });
    const cli = (await ostree('ls', '-R', 'a')).stdout
      .trim()
      .split('\n')
      .slice(1) // the root itself
      .map((l) => l.trim().replace(/\s+/g, ' '));
    expect(ours).toEqual(cli);
    expect(listTree(repo, 'a', { path: '/usr/bin' }).map((e) => e.path)).toEqual(['/usr/bin/sh', '/usr/bin/tool']);
  });

  it('cats files like `ostree cat`, and names symlinks and missing paths', async () => {
    expect((await catFile(repo, 'a', '/etc/conf')).toString()).toBe((await ostree('cat', 'a', '/etc/conf')).stdout);
    await expect(catFile(repo, 'a', '/usr/bin/sh')).rejects.toThrow(/symbolic link to dash/);
    const empty = await commitDirectory(repo, await tree('empty-file', { 'etc/empty': '' }));
    expect(await catFile(repo, empty.checksum, '/etc/empty')).toEqual(Buffer.alloc(0));
    const err = await catFile(repo, 'a', '/usr/nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OstreeError);
    expect((err as OstreeError).notFound).toBe(true);
  });

  it('diffs two commits as `ostree diff` does', async () => {
    const d = diffCommits(repo, 'a', 'b');
    expect(d).toEqual({ added: ['/usr/share/doc/b', '/usr/share/doc/b/README'], removed: ['/usr/bin/sh', '/usr/share/doc/a', '/usr/share/doc/a/README'], modified: ['/etc/conf'] });
    const cli = (await ostree('diff', 'a', 'b')).stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).sort();
    // `ostree diff` names a removed directory but not what was in it; ours lists both (so does an added one, in both tools).
    const removedTop = d.removed.filter((p) => !d.removed.includes(p.slice(0, p.lastIndexOf('/'))));
    const ours = [...d.added.map((p) => `A ${p}`), ...removedTop.map((p) => `D ${p}`), ...d.modified.map((p) => `M ${p}`)].sort();
    expect(ours).toEqual(cli);
    expect(diffCommits(repo, 'a', 'a')).toEqual({ added: [], removed: [], modified: [] });
  });
});

describe('commitUnion', () => {
  it('unions layers metadata-only, later layers winning, and reports the overlapping paths', async () => {
    const u = await commitUnion(repo, ['a', 'b'], { ref: 'u', timestamp: 5 });
    expect(u.stats.contentWritten).toBe(0);
    expect((await catFile(repo, 'u', '/etc/conf')).toString()).toBe('two\n');
    expect(listTree(repo, 'u').map((e) => e.path)).toContain('/usr/share/doc/a/README');
    expect(u.conflicts).toEqual([
      { path: '/etc/conf', layers: [0, 1], identical: false },
      { path: '/usr/bin/tool', layers: [0, 1], identical: true },
    ]);
    // the same union from the CLI gives the same tree
    await run('ostree commit', ['ostree', `--repo=${repo.path}`, 'commit', '-b', 'cli-u', '--tree=ref=a', '--tree=ref=b', '--timestamp=1970-01-01T00:00:05Z', '--no-bindings']);
    expect(readCommit(repo, 'u').rootContents).toBe(readCommit(repo, 'cli-u').rootContents);
    const again = await commitUnion(repo, ['a', 'b'], { timestamp: 5 });
    expect(again.checksum).toBe(u.checksum);
  });

  it('refuses a file in one layer where another has a directory, naming both, and writes nothing', async () => {
    await commitDirectory(repo, await tree('c', { 'usr/share/doc': 'not a directory\n' }), { ref: 'c' });
    const err = (await commitUnion(repo, ['a', 'c'], { ref: 'bad' }).catch((e: unknown) => e)) as OstreeError;
    expect(err).toBeInstanceOf(OstreeError);
    expect(err.message).toMatch(/\/usr\/share\/doc is a directory in a and a file in c/);
    expect(repo.resolve('bad', { allowMissing: true })).toBeUndefined();
  });
});

describe('commitUnion with usrMerge', () => {
  it('moves /bin, /sbin and /lib into /usr, adds the root symlinks and judges conflicts on merged paths', async () => {
    await commitDirectory(repo, await tree('m1', { 'bin/sh': 'dash\n', 'usr/bin/x': 'x\n', 'lib/ld.so': 'ld\n' }), { ref: 'm1' });
    await commitDirectory(repo, await tree('m2', { 'sbin/init': 'init\n', 'usr/bin/sh': 'other sh\n' }), { ref: 'm2' });
    const u = await commitUnion(repo, ['m1', 'm2'], { ref: 'merged', usrMerge: true });
    const entries = listTree(repo, 'merged', { details: true });
    const paths = entries.map((e) => e.path);
    expect(paths).toEqual(['/bin', '/lib', '/sbin', '/usr', '/usr/bin', '/usr/bin/sh', '/usr/bin/x', '/usr/lib', '/usr/lib/ld.so', '/usr/sbin', '/usr/sbin/init']);
    expect(entries.filter((e) => e.symlinkTarget).map((e) => [e.path, e.symlinkTarget, e.uid, e.gid])).toEqual([
      ['/bin', 'usr/bin', 0, 0],
      ['/lib', 'usr/lib', 0, 0],
      ['/sbin', 'usr/sbin', 0, 0],
    ]);
    expect(u.conflicts).toEqual([{ path: '/usr/bin/sh', layers: [0, 1], identical: false }]);
    expect((await catFile(repo, 'merged', '/usr/bin/sh')).toString()).toBe('other sh\n');
    // the CLI sees the same tree, and a checkout resolves /bin/sh through the symlink
    expect((await ostree('ls', 'merged', '/bin')).stdout).toMatch(/l00777 0 0 +0 \/bin -> usr\/bin/);
    const co = join(dir, 'merged-co');
    await run('checkout', ['ostree', `--repo=${repo.path}`, 'checkout', '-U', 'merged', co]);
    expect((await readFile(join(co, 'bin/sh'))).toString()).toBe('other sh\n');
    // without usrMerge the layers keep their own /bin
    const plain = await commitUnion(repo, ['m1', 'm2']);
    expect(listTree(repo, plain.checksum).map((e) => e.path)).toContain('/bin/sh');
  });
});

describe('exportTar', () => {
  it('exports a commit that GNU tar lists with the same modes, owners and links', async () => {
    const out = join(dir, 'a.tar');
    const r = await exportTar(repo, 'a', createWriteStream(out));
    expect(r.entries).toBe(listTree(repo, 'a').length);
    const listing = (await run('tar', ['tar', '--numeric-owner', '-tvf', out])).stdout;
    expect(listing).toMatch(/^-rwsr-xr-x 0\/0 +10 2023-11-14 22:13 usr\/bin\/tool$/m);
    expect(listing).toMatch(/^lrwxrwxrwx 0\/0 +0 2023-11-14 22:13 usr\/bin\/sh -> dash$/m);
    const x = join(dir, 'x');
    await mkdir(x);
    await run('tar', ['tar', '-xf', out, '-C', x]);
    await commitDirectory(repo, x, { ref: 'roundtrip', timestamp: 1_700_000_000 });
    expect(diffCommits(repo, 'a', 'roundtrip')).toEqual({ added: [], removed: [], modified: [] });
  });
});
