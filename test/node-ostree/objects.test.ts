import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { encodeVariant, GVariantValue } from '../../node-ostree/gvariant.js';
import {
  COMMIT_TYPE,
  decodeCommit,
  decodeDirMeta,
  decodeDirTree,
  decodeMetadata,
  DIRTREE_TYPE,
  encodeMetadata,
  splitArchiveFile,
} from '../../node-ostree/objects.js';

// A real archive repository written by the ostree CLI; every expectation is what ostree itself
// reports about the same objects (show, ls -R, rev-parse).
const T1 = { text: '2024-01-02 03:04:05 UTC', epoch: 1704164645 };
const T2 = { text: '2024-02-03 04:05:06 UTC', epoch: 1706933106 };

let tmp: string;
let src: string;
let repo: string;
let c1: string; // dir tree, uid/gid 0, no parent
let c2: string; // child of c1, metadata, detached metadata
let c3: string; // from a tar with xattrs, uid 1000 / gid 2000 (0 would hide a missing byte swap)

const ostree = async (...args: string[]): Promise<string> => (await run(`ostree ${args[0]}`, ['ostree', ...args, `--repo=${repo}`])).stdout;
const objectPath = (sum: string, ext: string): string => join(repo, 'objects', sum.slice(0, 2), `${sum.slice(2)}.${ext}`);
const object = (sum: string, ext: string): Promise<Buffer> => readFile(objectPath(sum, ext));
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-objects-'));
  src = join(tmp, 'src');
  repo = join(tmp, 'repo');
  const file = async (rel: string, content: string | Buffer, mode: number) => {
    await writeFile(join(src, rel), content);
    await chmod(join(src, rel), mode);
  };
  for (const d of ['sub/nested', 'private', 'emptydir']) await mkdir(join(src, d), { recursive: true });
  await file('a.txt', 'hello\n', 0o644);
  await file('run.sh', '#!/bin/sh\necho hi\n', 0o755);
  await file('secret', 'shh', 0o600);
  await file('empty', '', 0o644);
  await file('big.bin', Buffer.from(Array.from({ length: 300_000 }, (_, k) => (k * 7919) % 251)), 0o644);
  await file('ünïcødé name.txt', 'unicode\n', 0o644);
  await file('sub/nested/deep.txt', 'deep\n', 0o640);
  await file('private/x', 'x', 0o644);
  await symlink('a.txt', join(src, 'link'));
  await symlink('/nowhere/at/all', join(src, 'sub/dangling'));
  await chmod(join(src, 'private'), 0o700);
  await chmod(join(src, 'sub'), 0o755);

  await ostree('init', '--mode=archive');
  const commit = async (...args: string[]) => (await ostree('commit', ...args)).trim();
  c1 = await commit('-b', 'test', `--tree=dir=${src}`, '--owner-uid=0', '--owner-gid=0', `--timestamp=${T1.text}`, '-s', 'first', '-m', 'body one');
  await file('added.txt', 'new in c2\n', 0o644);
  c2 = await commit('-b', 'test', `--tree=dir=${src}`, '--owner-uid=0', '--owner-gid=0', `--timestamp=${T2.text}`,
    '-s', 'second é', '-m', 'line1\nline2', '--add-metadata-string=version=1.0', '--add-metadata=answer=@u 42',
    '--add-detached-metadata-string=note=hello');
  // GNU tar puts the xattr in every member's pax header, so dirs and files all carry one.
  const tar = join(tmp, 'tree.tar');
  await run('tar with xattrs', ['tar', '--format=pax', '--pax-option=SCHILY.xattr.user.test:=hello', '-C', src, '-cf', tar, '.']);
  c3 = await commit('-b', 'tar', `--tree=tar=${tar}`, '--owner-uid=1000', '--owner-gid=2000', `--timestamp=${T1.text}`, '-s', 'from tar');
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** ostree's "%F %T %z" in UTC. */
const showDate = (epoch: number): string => `${new Date(epoch * 1000).toISOString().replace('T', ' ').slice(0, 19)} +0000`;

describe('decodeCommit', () => {
  it('reads what ostree show and rev-parse report', async () => {
    for (const [sum, t, subject, body] of [[c1, T1, 'first', 'body one'], [c2, T2, 'second é', 'line1\nline2']] as const) {
      const bytes = await object(sum, 'commit');
      expect(sha256(bytes)).toBe(sum); // the object file really is the commit
      const c = decodeCommit(bytes);
      const show = await ostree('show', sum);
      expect(c.timestamp).toBe(t.epoch);
      expect(show).toContain(`Date:  ${showDate(c.timestamp)}\n`);
      expect([c.subject, c.body]).toEqual([subject, body]);
      expect(show).toContain(`\n    ${subject}\n\n${body.split('\n').map((l) => `    ${l}`).join('\n')}\n`);
      // ContentChecksum is sha256(root dirtree checksum bytes || root dirmeta checksum bytes)
      const content = sha256(Buffer.concat([Buffer.from(c.rootContents, 'hex'), Buffer.from(c.rootMeta, 'hex')]));
      expect(show).toContain(`ContentChecksum:  ${content}\n`);
      expect(await ostree('ls', '-d', '-C', sum, '/')).toContain(` ${c.rootContents} ${c.rootMeta} /`);
      expect(c.related).toEqual([]);
    }
    const first = decodeCommit(await object(c1, 'commit'));
    const second = decodeCommit(await object(c2, 'commit'));
    expect(first.parent).toBeNull();
    expect(await ostree('show', c1)).not.toContain('Parent:');
    expect(second.parent).toBe(c1);
    expect(second.parent).toBe((await ostree('rev-parse', `${c2}^`)).trim());
    expect(await ostree('show', c2)).toContain(`Parent:  ${c1}\n`);
  });

  it('reads the commit metadata', async () => {
    const { metadata } = decodeCommit(await object(c2, 'commit'));
    expect(metadata.get('version')).toEqual(new GVariantValue('s', '1.0'));
    expect(metadata.get('answer')).toEqual(new GVariantValue('u', 42));
    expect(metadata.get('ostree.ref-binding')).toEqual(new GVariantValue('as', ['test']));
    expect((await ostree('show', '--print-metadata-key=version', c2)).trim()).toBe("'1.0'");
    expect((await ostree('show', '--print-metadata-key=ostree.ref-binding', c2)).trim()).toBe("['test']");
    // ostree show byte-swaps metadata it prints unless told not to (-B): 42 would read 704643072.
    expect((await ostree('show', '-B', '--print-metadata-key=answer', c2)).trim()).toBe('uint32 42');
  });
});

/** One `ostree ls -R -C` line, rebuilt from our decoding of the objects. */
function lsLine(mode: number, uid: number, gid: number, size: number, sums: string, path: string, target = ''): string {
  const type = (mode & 0o170000) === 0o040000 ? 'd' : (mode & 0o170000) === 0o120000 ? 'l' : '-';
  return `${type}0${(mode & 0o7777).toString(8).padStart(4, '0')} ${uid} ${gid} ${String(size).padStart(6)} ${sums} ${path}${target ? ` -> ${target}` : ''}`;
}

interface Walked {
  lines: string[];
  xattrs: [string, [Buffer, Buffer][]][];
  contents: Map<string, Buffer>;
}

/** Walks a commit's tree through our decoders only, the way a checkout would. */
async function walk(commit: string): Promise<Walked> {
  const out: Walked = { lines: [], xattrs: [], contents: new Map() };
  const c = decodeCommit(await object(commit, 'commit'));
  const visit = async (contents: string, meta: string, path: string): Promise<void> => {
    const treeBytes = await object(contents, 'dirtree');
    const metaBytes = await object(meta, 'dirmeta');
    expect([sha256(treeBytes), sha256(metaBytes)]).toEqual([contents, meta]);
    const dm = decodeDirMeta(metaBytes);
    out.lines.push(lsLine(dm.mode, dm.uid, dm.gid, 0, `${contents} ${meta}`, path));
    out.xattrs.push([path, dm.xattrs]);
    const tree = decodeDirTree(treeBytes);
    const prefix = path === '/' ? '/' : `${path}/`;
    for (const f of tree.files) {
      const { header, compressed } = splitArchiveFile(await object(f.checksum, 'filez'));
      out.lines.push(lsLine(header.mode, header.uid, header.gid, header.size, f.checksum, prefix + f.name, header.symlinkTarget));
      out.xattrs.push([prefix + f.name, header.xattrs]);
      if (!header.symlinkTarget) {
        const data = inflateRawSync(compressed);
        expect(data.length).toBe(header.size);
        out.contents.set(prefix + f.name, data);
      }
    }
    for (const d of tree.dirs) await visit(d.contents, d.meta, prefix + d.name);
  };
  await visit(c.rootContents, c.rootMeta, '/');
  return out;
}

const sorted = (text: string): string[] => text.split('\n').filter(Boolean).sort();

describe('decodeDirTree, decodeDirMeta, splitArchiveFile', () => {
  it('walk a commit to exactly the listing of ostree ls -R, contents included', async () => {
    for (const sum of [c1, c2]) {
      const ours = await walk(sum);
      expect([...ours.lines].sort()).toEqual(sorted(await ostree('ls', '-R', '-C', sum)));
      expect(ours.xattrs.every(([, x]) => x.length === 0)).toBe(true);
      for (const [path, data] of ours.contents) expect(data.equals(await readFile(join(src, path))), path).toBe(true);
    }
    const listing = (await walk(c2)).lines.join('\n');
    // the details the comparison above covers, spelled out
    expect(listing).toContain(' /ünïcødé name.txt');
    expect(listing).toMatch(/^d00700 0 0 +0 [0-9a-f]{64} [0-9a-f]{64} \/private$/m);
    expect(listing).toMatch(/^-00640 0 0 +5 [0-9a-f]{64} \/sub\/nested\/deep\.txt$/m);
    expect(listing).toMatch(/^l00777 0 0 +0 [0-9a-f]{64} \/sub\/dangling -> \/nowhere\/at\/all$/m);
    expect(listing).toMatch(/^-00644 0 0 300000 [0-9a-f]{64} \/big\.bin$/m);
  });

  it('swaps uid, gid and mode out of big-endian and keeps xattr names as stored (NUL-terminated)', async () => {
    const ours = await walk(c3);
    expect([...ours.lines].sort()).toEqual(sorted(await ostree('ls', '-R', '-C', c3)));
    expect(ours.lines[0]).toMatch(/^d00755 1000 2000 +0 [0-9a-f]{64} [0-9a-f]{64} \/$/); // the root, visited first
    expect(ours.xattrs.length).toBeGreaterThan(10);
    for (const [path, xattrs] of ours.xattrs) expect(xattrs, path).toEqual([[Buffer.from('user.test\0'), Buffer.from('hello')]]);
    for (const line of sorted(await ostree('ls', '-R', '-X', c3))) expect(line).toContain("{ [(b'user.test', [byte 0x68, 0x65, 0x6c, 0x6c, 0x6f])] }");
    const root = decodeCommit(await object(c3, 'commit'));
    const meta = decodeDirMeta(await object(root.rootMeta, 'dirmeta'));
    expect([meta.uid, meta.gid, meta.mode]).toEqual([1000, 2000, 0o40755]);
  });
});

describe('detached metadata', () => {
  it('decodes what ostree wrote and encodes the same bytes', async () => {
    const bytes = await object(c2, 'commitmeta');
    expect(decodeMetadata(bytes)).toEqual(new Map([['note', new GVariantValue('s', 'hello')]]));
    expect(encodeMetadata({ note: new GVariantValue('s', 'hello') }).equals(bytes)).toBe(true);
  });

  it('writes a .commitmeta with ed25519-style signatures that ostree reads back', async () => {
    const sigs = [Buffer.from(Array.from({ length: 64 }, (_, k) => 0x80 + k)), Buffer.from(Array.from({ length: 64 }, (_, k) => 0xff - k))];
    const data = encodeMetadata({ 'ostree.sign.ed25519': new GVariantValue('aay', sigs), note: new GVariantValue('s', 'ours') });
    await writeFile(objectPath(c1, 'commitmeta'), data);
    expect((await ostree('show', '-B', '--print-detached-metadata-key=note', c1)).trim()).toBe("'ours'");
    const printed = await ostree('show', '-B', '--print-detached-metadata-key=ostree.sign.ed25519', c1);
    // GLib prints aay as [[byte 0x80, 0x81, ...], [0xff, ...]]: two arrays whose bytes are ours
    expect(printed.match(/\[/g)).toHaveLength(3);
    expect((printed.match(/0x[0-9a-f]{2}/g) ?? []).map((h) => h.slice(2)).join('')).toBe(Buffer.concat(sigs).toString('hex'));
    expect(decodeMetadata(data).get('ostree.sign.ed25519')).toEqual(new GVariantValue('aay', sigs));
  });

  it('refuses entries that are not GVariantValues', () => {
    expect(() => encodeMetadata({ note: 'hello' as unknown as GVariantValue })).toThrow(/'note' must be a GVariantValue/);
    expect(() => encodeMetadata({ n: new GVariantValue('u', -1) })).toThrow(OtaError);
  });
});

describe('malformed objects', () => {
  const sum = Buffer.alloc(32, 0xab);
  const beTimestamp = (epoch: number): bigint => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(epoch));
    return b.readBigUInt64LE();
  };

  it('decodes a synthetic commit with related objects', () => {
    const bytes = encodeVariant(COMMIT_TYPE, [[], sum, [['other', Buffer.alloc(32, 1)]], 's', 'b', beTimestamp(T2.epoch), sum, sum]);
    const c = decodeCommit(bytes);
    expect(c.related).toEqual([['other', '01'.repeat(32)]]);
    expect(c.parent).toBe('ab'.repeat(32));
    expect(c.timestamp).toBe(T2.epoch);
    expect(c.metadata.size).toBe(0);
  });

  it('are refused with ERR_OTA_OSTREE', async () => {
    const commit = await object(c2, 'commit');
    const tree = decodeCommit(commit).rootContents;
    const attempts: [() => unknown, RegExp][] = [
      [() => decodeCommit(commit.subarray(0, commit.length - 1)), /malformed GVariant/],
      [() => decodeDirTree(Buffer.from('nonsense')), /malformed GVariant/],
      [() => decodeDirMeta(Buffer.alloc(3)), /malformed GVariant/],
      [() => decodeCommit(encodeVariant(COMMIT_TYPE, [[], Buffer.alloc(31), [], '', '', 0n, sum, sum])), /parent is 31 bytes, a checksum is 32/],
      [() => decodeDirTree(encodeVariant(DIRTREE_TYPE, [[['..', sum]], []])), /invalid file name "\.\."/],
      [() => decodeDirTree(encodeVariant(DIRTREE_TYPE, [[], [['a/b', sum, sum]]])), /invalid file name "a\/b"/],
      [() => decodeDirTree(encodeVariant(DIRTREE_TYPE, [[['', sum]], []])), /invalid file name ""/],
      [() => splitArchiveFile(Buffer.from([0, 0, 0, 40, 0, 0, 0, 0, 1])), /header of 40 bytes runs past/],
      [() => splitArchiveFile(Buffer.alloc(4)), /too short/],
    ];
    expect(decodeDirTree(await object(tree, 'dirtree')).files.length).toBeGreaterThan(0);
    for (const [attempt, why] of attempts) {
      let err: unknown;
      try {
        attempt();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(OtaError);
      expect((err as OtaError).code).toBe('ERR_OTA_OSTREE');
      expect((err as OtaError).message).toMatch(why);
    }
  });
});
