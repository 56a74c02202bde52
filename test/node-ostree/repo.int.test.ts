import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitDirectory } from '../../node-ostree/commit.js';
import { OstreeError } from '../../node-ostree/errors.js';
import { Repo, type RepoModeName } from '../../node-ostree/repo.js';
import { ostree, ostreeStatus, removeTree } from '../helpers/ostree-cli.js';
import { rejectionOf } from '../helpers/errors.js';

// Repo against the `ostree` CLI: repositories made by one side are read by the other.

let tmp: string;
let tree: string;
const open: Repo[] = [];
const T = 1_700_000_000;

async function makeRepo(name: string, mode: RepoModeName): Promise<Repo> {
  const repo = await Repo.create(join(tmp, name), mode, { disableFsync: true });
  open.push(repo);
  return repo;
}

/** An object's file in a repository (loose object layout: objects/xx/yyy.type). */
const objectFile = (repo: Repo, checksum: string, ext: string) => join(repo.path, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.${ext}`);

const rejection = (f: () => unknown) => rejectionOf(OstreeError, f);

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-repo-'));
  tree = join(tmp, 'tree');
  await mkdir(join(tree, 'usr/bin'), { recursive: true });
  await mkdir(join(tree, 'etc'));
  await writeFile(join(tree, 'usr/bin/hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  await writeFile(join(tree, 'etc/hello.conf'), 'greeting=hi\n');
  await symlink('hello', join(tree, 'usr/bin/hi'));
});
afterAll(async () => {
  for (const r of open) r.close();
  if (tmp) await removeTree(tmp);
});

describe('Repo.create and Repo.open', () => {
  it.each(['bare', 'bare-user', 'bare-user-only', 'archive'] as const)('creates a %s repository the CLI reads with that mode', async (mode) => {
    const repo = await makeRepo(`create-${mode}`, mode);
    expect(repo.mode).toBe(mode);
    // the CLI spells archive by its on-disk name
    expect((await ostree([`--repo=${repo.path}`, 'config', 'get', 'core.mode'])).trim()).toBe(mode === 'archive' ? 'archive-z2' : mode);
    // creating again with the same mode opens it
    const again = await makeRepo(`create-${mode}`, mode);
    expect(again.mode).toBe(mode);
  });

  it('opens a repository the CLI made and sees its refs', async () => {
    const path = join(tmp, 'cli-made');
    await ostree([`--repo=${path}`, 'init', '--mode=bare-user']);
    const cs = (await ostree([`--repo=${path}`, 'commit', '-b', 'os/main', `--tree=dir=${tree}`, '--timestamp=@1700000000'])).trim();
    const repo = await Repo.open(path);
    open.push(repo);
    expect(repo.mode).toBe('bare-user');
    expect(repo.resolve('os/main')).toBe(cs);
    expect(repo.hasObject('commit', cs)).toBe(true);
  });

  it('fails to open a missing path with a not-found OstreeError naming operation and path', async () => {
    const missing = join(tmp, 'no-such-repo');
    const e = await rejection(() => Repo.open(missing));
    expect(e.domain).toBe('g-io-error-quark');
    expect(e.gcode).toBe(1);
    expect(e.notFound).toBe(true);
    expect(e.code).toBe('ERR_OTA_OSTREE');
    expect(e.operation).toBe('opening the repository');
    expect(e.path).toBe(missing);
    expect(e.message).toContain('opening the repository');
    expect(e.message).toContain(missing);
    expect(e.message).toContain(e.gmessage);
  });

  it('fails to open a directory that is not a repository', async () => {
    const e = await rejection(() => Repo.open(tree));
    expect(e.domain).toBe('g-io-error-quark');
    expect(e.message).toContain(tree);
  });
});

describe('refs', () => {
  let repo: Repo;
  let c1: string;
  let c2: string;
  beforeAll(async () => {
    repo = await makeRepo('refs', 'archive');
    c1 = (await commitDirectory(repo, tree, { ref: 'os/stable', timestamp: T, subject: 'one' })).checksum;
    c2 = (await commitDirectory(repo, tree, { ref: 'os/stable', parent: 'os/stable', timestamp: T + 1, subject: 'two' })).checksum;
  });

  it('resolves a ref, a checksum and ref^ as the CLI does', async () => {
    const r = (rev: string) => ostree([`--repo=${repo.path}`, 'rev-parse', rev]).then((s) => s.trim());
    expect(repo.resolve('os/stable')).toBe(c2);
    expect(await r('os/stable')).toBe(c2);
    expect(repo.resolve(c1)).toBe(c1);
    expect(repo.resolve('os/stable^')).toBe(c1);
    expect(await r('os/stable^')).toBe(c1);
    expect(c1).not.toBe(c2);
  });

  it('resolves an abbreviated checksum, even over a ref with the same (hex) name, as `ostree rev-parse` does', async () => {
    expect(repo.resolve(c1.slice(0, 10))).toBe(c1);
    // libostree tries a partial checksum first: a ref named like a hex prefix is shadowed
    const prefix = c1.slice(0, 6);
    repo.setRef(prefix, c2);
    try {
      expect(repo.resolve(prefix)).toBe(c1);
      expect((await ostree([`--repo=${repo.path}`, 'rev-parse', prefix])).trim()).toBe(c1);
      expect(repo.listRefs().get(prefix)).toBe(c2);
    } finally {
      repo.deleteRef(prefix);
    }
  });

  it('returns undefined for a missing ref only when allowMissing, and throws otherwise', async () => {
    expect(repo.resolve('os/nope', { allowMissing: true })).toBeUndefined();
    const e = await rejection(() => repo.resolve('os/nope'));
    expect(e.message).toContain('resolving os/nope');
    expect(e.message).toContain(repo.path);
    // a commit without parent has no ^
    const p = await rejection(() => repo.resolve(`${c1}^`));
    expect(p.gmessage).toContain('has no parent');
  });

  it('sets and deletes refs that the CLI sees, and sees refs the CLI sets', async () => {
    repo.setRef('apps/a', c1);
    repo.setRef('apps/b/deep', c2);
    expect((await ostree([`--repo=${repo.path}`, 'rev-parse', 'apps/a'])).trim()).toBe(c1);
    expect((await ostree([`--repo=${repo.path}`, 'rev-parse', 'apps/b/deep'])).trim()).toBe(c2);
    // move a ref
    repo.setRef('apps/a', c2);
    expect((await ostree([`--repo=${repo.path}`, 'rev-parse', 'apps/a'])).trim()).toBe(c2);
    await ostree([`--repo=${repo.path}`, 'refs', `--create=apps/cli`, c1]);
    expect(repo.resolve('apps/cli')).toBe(c1);
    repo.deleteRef('apps/cli');
    expect((await ostreeStatus([`--repo=${repo.path}`, 'rev-parse', 'apps/cli'])).code).not.toBe(0);
    expect(repo.resolve('apps/cli', { allowMissing: true })).toBeUndefined();
    // a malformed checksum is refused
    const e = await rejection(() => repo.setRef('apps/bad', 'not-a-checksum'));
    expect(e.message).toContain('setting ref apps/bad');
    expect(repo.resolve('apps/bad', { allowMissing: true })).toBeUndefined();
    // a remote-tracking ref, as a pull from that remote sets it
    repo.setRef('upd:apps/tracked', c1);
    expect((await ostree([`--repo=${repo.path}`, 'rev-parse', 'upd:apps/tracked'])).trim()).toBe(c1);
    expect(existsSync(join(repo.path, 'refs/remotes/upd/apps/tracked'))).toBe(true);
  });

  it('lists refs, all and under a prefix, as `ostree refs --list` does (remote refs as remote:ref)', async () => {
    await ostree([`--repo=${repo.path}`, 'refs', '--create=origin:os/stable', c1]);
    const cliList = async (prefix?: string) => (await ostree([`--repo=${repo.path}`, 'refs', '--list', ...(prefix ? [prefix] : [])])).split('\n').filter(Boolean).sort();
    const all = repo.listRefs();
    expect([...all.keys()]).toEqual(await cliList());
    expect([...all.keys()]).toContain('origin:os/stable');
    expect(all.get('os/stable')).toBe(c2);
    expect(all.get('origin:os/stable')).toBe(c1);
    for (const [ref, cs] of all) expect((await ostree([`--repo=${repo.path}`, 'rev-parse', ref])).trim()).toBe(cs);
    const apps = repo.listRefs('apps');
    expect([...apps.keys()]).toEqual(await cliList('apps'));
    expect([...apps.keys()]).toEqual(['apps/a', 'apps/b/deep']);
    expect(repo.listRefs('nothing-here').size).toBe(0);
  });
});

describe('objects', () => {
  let repo: Repo;
  let commit: string;
  beforeAll(async () => {
    repo = await makeRepo('objects', 'archive');
    commit = (await commitDirectory(repo, tree, { ref: 'os', timestamp: T, subject: 'objects' })).checksum;
  });

  it('hasObject agrees with the checksums `ostree ls -C` prints', async () => {
    const root = (await ostree([`--repo=${repo.path}`, 'ls', '-C', '-d', commit, '/'])).trim().split(/\s+/);
    const [dirtree, dirmeta] = [root[4]!, root[5]!];
    const file = (await ostree([`--repo=${repo.path}`, 'ls', '-C', commit, '/usr/bin/hello'])).trim().split(/\s+/)[4]!;
    expect(repo.hasObject('commit', commit)).toBe(true);
    expect(repo.hasObject('dirTree', dirtree)).toBe(true);
    expect(repo.hasObject('dirMeta', dirmeta)).toBe(true);
    expect(repo.hasObject('file', file)).toBe(true);
    expect(repo.hasObject('commit', file)).toBe(false);
    expect(repo.hasObject('commit', '0'.repeat(64))).toBe(false);
  });

  it('loadVariant returns the bytes of the object files of an archive repository', async () => {
    expect(repo.loadVariant('commit', commit)).toEqual(await readFile(objectFile(repo, commit, 'commit')));
    const root = (await ostree([`--repo=${repo.path}`, 'ls', '-C', '-d', commit, '/'])).trim().split(/\s+/);
    expect(repo.loadVariant('dirTree', root[4]!)).toEqual(await readFile(objectFile(repo, root[4]!, 'dirtree')));
    expect(repo.loadVariant('dirMeta', root[5]!)).toEqual(await readFile(objectFile(repo, root[5]!, 'dirmeta')));
    const e = await rejection(() => repo.loadVariant('commit', '0'.repeat(64)));
    expect(e.message).toContain(`loading commit ${'0'.repeat(64)}`);
  });
});

describe('detached metadata', () => {
  let repo: Repo;
  let plain: string;
  let cliSigned: string;
  beforeAll(async () => {
    repo = await makeRepo('detached', 'archive');
    plain = (await commitDirectory(repo, tree, { ref: 'plain', timestamp: T })).checksum;
    cliSigned = (
      await ostree([`--repo=${repo.path}`, 'commit', '-b', 'cli', `--tree=dir=${tree}`, '--timestamp=@1700000001', '--add-detached-metadata-string=ota.note=made by the CLI', '--add-detached-metadata-string=x=y'])
    ).trim();
  });

  it('is undefined for a commit without any', () => {
    expect(repo.readDetachedMetadata(plain)).toBeUndefined();
  });

  it('round-trips the empty a{sv} (zero bytes)', () => {
    repo.writeDetachedMetadata(plain, Buffer.alloc(0));
    expect(repo.readDetachedMetadata(plain)).toEqual(Buffer.alloc(0));
    repo.writeDetachedMetadata(plain, undefined);
    expect(repo.readDetachedMetadata(plain)).toBeUndefined();
  });

  it('reads what the CLI wrote, and what it writes the CLI reads', async () => {
    const bytes = repo.readDetachedMetadata(cliSigned)!;
    expect(bytes).toEqual(await readFile(objectFile(repo, cliSigned, 'commitmeta')));
    expect(bytes.includes(Buffer.from('made by the CLI'))).toBe(true);
    repo.writeDetachedMetadata(plain, bytes);
    expect(repo.readDetachedMetadata(plain)).toEqual(bytes);
    expect((await ostree([`--repo=${repo.path}`, 'show', '--print-detached-metadata-key=ota.note', plain])).trim()).toBe("'made by the CLI'");
    expect((await ostree([`--repo=${repo.path}`, 'show', '--print-detached-metadata-key=x', plain])).trim()).toBe("'y'");
    // removing it
    repo.writeDetachedMetadata(plain, undefined);
    expect((await ostreeStatus([`--repo=${repo.path}`, 'show', '--print-detached-metadata-key=x', plain])).code).not.toBe(0);
  });

  it('refuses a missing commit', async () => {
    const e = await rejection(() => repo.writeDetachedMetadata('0'.repeat(64), Buffer.alloc(0)));
    expect(e.message).toContain('writing detached metadata');
    expect(e.notFound).toBe(true);
    expect(await readdir(join(repo.path, 'objects'))).not.toContain('00');
  });
});

describe('fsck', () => {
  it('passes a good commit and names the object whose file was corrupted (bare-user)', async () => {
    const repo = await makeRepo('fsck', 'bare-user');
    const { checksum } = await commitDirectory(repo, tree, { ref: 'os', timestamp: T });
    const ok = await repo.fsck('os');
    // every object the commit reaches: the commit plus the distinct checksums `ostree ls -R -C` shows
    const listing = await ostree([`--repo=${repo.path}`, 'ls', '-R', '-C', checksum]);
    const reachable = new Set(listing.match(/\b[0-9a-f]{64}\b/g));
    expect(ok.objects).toBe(reachable.size + 1);
    await ostree([`--repo=${repo.path}`, 'fsck']);

    const file = (await ostree([`--repo=${repo.path}`, 'ls', '-C', checksum, '/etc/hello.conf'])).trim().split(/\s+/)[4]!;
    const path = objectFile(repo, file, 'file');
    const original = await readFile(path);
    await writeFile(path, 'greeting=HI\n'); // same size, other bytes: only a re-hash tells
    const e = await rejection(() => repo.fsck(checksum));
    expect(e).toBeInstanceOf(OstreeError);
    expect(e.message).toContain(file);
    expect(e.message).toContain(repo.path);
    expect((await ostreeStatus([`--repo=${repo.path}`, 'fsck'])).code).not.toBe(0);
    await writeFile(path, original);
    expect((await repo.fsck(checksum)).objects).toBe(ok.objects);
  });

  it('checks each object once across calls that share a seen set', async () => {
    const repo = await makeRepo('fsck-seen', 'archive');
    const { checksum } = await commitDirectory(repo, tree, { ref: 'os', timestamp: T });
    const seen = new Set<string>();
    const ok = await repo.fsck(checksum, { seen });
    expect(seen.size).toBe(ok.objects);
    const file = (await ostree([`--repo=${repo.path}`, 'ls', '-C', checksum, '/etc/hello.conf'])).trim().split(/\s+/)[4]!;
    await writeFile(objectFile(repo, file, 'filez'), Buffer.from('damaged'));
    // Already checked: skipped. A fresh set re-hashes it and finds the damage.
    expect((await repo.fsck(checksum, { seen })).objects).toBe(ok.objects);
    expect((await rejection(() => repo.fsck(checksum, { seen: new Set() }))).message).toContain(file);
  });

  it('rejects a missing object', async () => {
    const repo = await makeRepo('fsck-missing', 'archive');
    const { checksum } = await commitDirectory(repo, tree, { ref: 'os', timestamp: T });
    const dirtree = (await ostree([`--repo=${repo.path}`, 'ls', '-C', '-d', checksum, '/usr/bin'])).trim().split(/\s+/)[4]!;
    await rm(objectFile(repo, dirtree, 'dirtree'));
    const e = await rejection(() => repo.fsck('os'));
    expect(e.message).toContain(dirtree);
    expect(await readdir(join(repo.path, 'objects'))).not.toHaveLength(0);
  });
});
