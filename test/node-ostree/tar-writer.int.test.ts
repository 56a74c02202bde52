import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform, Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { TarWriter, type TarContent, type TarEntry } from '../../node-ostree/tar-writer.js';

// Archives written by TarWriter are read back by the real tools: GNU tar (always) and bsdtar
// (libarchive, ostree's own tar reader) when it is installed. Extraction runs with -p; ownership is
// only compared as root, where tar restores it.

const isRoot = process.getuid?.() === 0;
const hasBsdtar = await run('probe bsdtar', ['bsdtar', '--version']).then(
  () => true,
  () => false,
);
// UTC and a UTF-8 locale: stable dates in listings, and no charset conversion of names (libarchive
// converts pax names from UTF-8 to the locale's charset, and warns in the C locale).
const toolEnv = { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' };

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-tar-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Item {
  entry: TarEntry;
  content?: Buffer;
}

const M = 1_700_000_000;
const base = { uid: 0, gid: 0, mtime: M };
const dir = (p: string, extra: Partial<TarEntry> = {}): Item => ({ entry: { ...base, path: p, type: 'directory', mode: 0o755, ...extra } });
const file = (p: string, content: Buffer, extra: Partial<TarEntry> = {}): Item => ({
  entry: { ...base, path: p, type: 'file', mode: 0o644, ...extra },
  content,
});
const symlink = (p: string, target: string): Item => ({ entry: { ...base, path: p, type: 'symlink', mode: 0o777, linkname: target } });
const hardlink = (p: string, target: string): Item => ({ entry: { ...base, path: p, type: 'hardlink', mode: 0o644, linkname: target } });

/** Bytes that are not all alike, so an offset mistake shows. */
function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return b;
}

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i)); // NUL, '\n', '=' and non-UTF-8
const longTarget = `../${'target-of-a-long-symlink/'.repeat(12)}end`; // 317 bytes: pax linkpath
const split128 = `t/long/${'d'.repeat(60)}/${'f'.repeat(60)}`; // 128 bytes, splits into prefix + name
const exactly100 = `t/long/${'e'.repeat(93)}`;
const noSplitDir = `t/long/${'g'.repeat(148)}`; // 155 bytes (+ '/'): no '/' to split at
const exactly256 = `${noSplitDir}/${'h'.repeat(100)}`; // prefix 155 + '/' + name 100: the ustar maximum
const unsplittable = `t/long/${'a'.repeat(120)}`; // a 120-byte basename: pax path
const deep = `t/deep/${'x'.repeat(200)}/${'y'.repeat(200)}`;
const over255 = `${deep}/${'z'.repeat(100)}`; // 511 bytes
const unicodeLong = `t/ünïcødé/${'日本語'.repeat(28)}`; // 252-byte basename, 265-byte path: pax, UTF-8

/**
 * Every entry type, mode bit, id range, size edge and name shape the exporter meets. A directory's
 * entries are contiguous, as in a depth-first export: GNU tar sets a directory's mtime once it has
 * left it, and a later entry inside would touch it again.
 */
const fixture: Item[] = [
  dir('t'), // written as 't/'
  dir('t/bin/'),
  file('t/bin/su', Buffer.from('setuid\n'), { mode: 0o4755, xattrs: { 'user.ota.bytes': allBytes, 'user.ota.a': Buffer.from('1') } }),
  file('t/bin/wall', Buffer.from('setgid\n'), { mode: 0o2755, gid: 5 }),
  dir('t/tmp/', { mode: 0o1777 }),
  dir('t/home/'),
  dir('t/home/user/', { mode: 0o700, uid: 1000, gid: 1000, xattrs: { 'user.ota.dir': Buffer.from('on a directory') } }),
  file('t/home/user/empty', Buffer.alloc(0), { mode: 0o600, uid: 1000, gid: 1000 }),
  file('t/home/user/block1024', pattern(1024), { uid: 1000, gid: 1000 }),
  file('t/home/user/block512', pattern(512, 2)),
  file('t/home/user/odd513', pattern(513, 3), { mode: 0o640 }),
  file('t/epoch', Buffer.from('mtime 0\n'), { mtime: 0 }),
  file('t/before-1970', Buffer.from('negative mtime\n'), { mtime: -365 * 86_400 }), // pax mtime
  file('t/far-future', Buffer.from('year 2286\n'), { mtime: 10_000_000_000 }), // beyond 11 octal digits
  file('t/big-ids', Buffer.from('ids\n'), { uid: 3_000_000, gid: 4_000_000 }), // beyond 7 octal digits
  symlink('t/sh', 'bin/su'),
  hardlink('t/su-hard', 't/bin/su'),
  dir('t/ünïcødé/'),
  file('t/ünïcødé/日本語.txt', Buffer.from('こんにちは\n')),
  symlink('t/ünïcødé/🚀', '日本語.txt'),
  file(unicodeLong, Buffer.from('long unicode name\n')),
  dir('t/deep/'),
  dir(`t/deep/${'x'.repeat(200)}/`),
  dir(deep),
  file(over255, pattern(700, 4), { mode: 0o755 }),
  hardlink('t/deep-hard', over255),
  dir('t/long/'),
  dir(`t/long/${'d'.repeat(60)}/`),
  file(split128, Buffer.from('split\n')),
  file(exactly100, Buffer.from('100\n')),
  dir(noSplitDir), // a directory whose path needs pax
  file(exactly256, Buffer.from('256\n')),
  file(unsplittable, Buffer.from('pax path\n')),
  hardlink(`t/long/${'k'.repeat(150)}`, over255), // pax path AND pax linkpath
  symlink('t/long-symlink', longTarget),
];

/** The name as stored: a directory's ends with '/'. */
const archivePath = ({ entry }: Item): string => (entry.type === 'directory' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path);

/** Writes items through TarWriter.readable into a file, consuming while writing. */
async function writeArchive(file: string, items: Item[]): Promise<void> {
  const tar = new TarWriter();
  const done = pipeline(tar.readable, createWriteStream(file));
  for (const { entry, content } of items) await tar.addEntry(entry, content);
  await tar.finish();
  await done;
}

async function archiveBytes(items: Item[]): Promise<Buffer> {
  const tar = new TarWriter();
  const bytes = buffer(tar.readable);
  for (const { entry, content } of items) await tar.addEntry(entry, content);
  await tar.finish();
  return bytes;
}

/** `ls -l`-style mode string as GNU tar prints it (h for a hardlink). */
function modeString(type: TarEntry['type'], mode: number): string {
  const chars = 'rwxrwxrwx'.split('').map((c, i) => (mode & (0o400 >> i) ? c : '-'));
  const special = (i: number, bit: number, ch: string): void => {
    if (mode & bit) chars[i] = chars[i] === '-' ? ch.toUpperCase() : ch;
  };
  special(2, 0o4000, 's');
  special(5, 0o2000, 's');
  special(8, 0o1000, 't');
  return { file: '-', directory: 'd', symlink: 'l', hardlink: 'h' }[type] + chars.join('');
}

/** The GNU tar `-tv --full-time` line for an item, blanks collapsed. */
function gnuListing(item: Item): string {
  const { entry, content } = item;
  const when = new Date(entry.mtime * 1000).toISOString().replace('T', ' ').replace(/\.000Z$/, '');
  const suffix = entry.type === 'symlink' ? ` -> ${entry.linkname}` : entry.type === 'hardlink' ? ` link to ${entry.linkname}` : '';
  return `${modeString(entry.type, entry.mode)} ${entry.uid}/${entry.gid} ${content?.length ?? 0} ${when} ${archivePath(item)}${suffix}`;
}

/** Checks an extracted tree against the items: type, mode, owner, mtime, content, links, xattrs. */
async function checkExtracted(root: string, items: Item[], tool: string): Promise<void> {
  for (const { entry, content } of items) {
    const where = `${tool}: ${entry.path}`;
    const p = path.join(root, entry.path);
    const st = await lstat(p, { bigint: true });
    if (entry.type === 'hardlink') {
      const target = await lstat(path.join(root, entry.linkname!), { bigint: true });
      expect(st.ino, where).toBe(target.ino);
      expect(st.nlink, where).toBeGreaterThanOrEqual(2n);
      continue; // a hardlink's header mode and mtime are its target's business
    }
    expect({ file: st.isFile(), directory: st.isDirectory(), symlink: st.isSymbolicLink() }[entry.type], where).toBe(true);
    if (entry.type !== 'symlink') expect(Number(st.mode) & 0o7777, where).toBe(entry.mode);
    if (isRoot) expect([Number(st.uid), Number(st.gid)], where).toEqual([entry.uid, entry.gid]);
    expect(st.mtimeNs / 1_000_000_000n, where).toBe(BigInt(entry.mtime));
    if (entry.type === 'file') expect((await readFile(p)).equals(content ?? Buffer.alloc(0)), where).toBe(true);
    if (entry.type === 'symlink') expect(await readlink(p), where).toBe(entry.linkname);
  }
  // No xattr reader ships with node or coreutils here; GNU tar itself reads them back: re-archive
  // the extracted files and look for the exact pax record (length prefix included).
  const withXattrs = items.filter(({ entry }) => entry.xattrs);
  if (withXattrs.length === 0) return;
  const { stdout } = await run(
    'read xattrs back',
    ['tar', '--xattrs', '--xattrs-include=user.*', '--format=posix', '--no-recursion', '-cf', '-', '-C', root, ...withXattrs.map(({ entry }) => entry.path)],
    { binary: true },
  );
  for (const { entry } of withXattrs) {
    for (const [name, value] of Object.entries(entry.xattrs!)) {
      const body = Buffer.concat([Buffer.from(` SCHILY.xattr.${name}=`), value, Buffer.from('\n')]);
      const digits = [1, 2, 3, 4, 5].find((d) => String(body.length + d).length === d)!; // the length counts itself
      const record = Buffer.concat([Buffer.from(String(body.length + digits)), body]);
      expect(stdout.includes(record), `${tool}: xattr ${name} on ${entry.path}`).toBe(true);
    }
  }
}

/** Walks the headers of an archive whose sizes all fit ustar; returns each raw header block. */
function headerBlocks(archive: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off + 512 <= archive.length) {
    const h = archive.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    out.push(h);
    const size = parseInt(h.subarray(124, 136).toString('latin1'), 8);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe('TarWriter read back by GNU tar', () => {
  let archive: string;
  beforeAll(async () => {
    archive = path.join(tmp, 'fixture.tar');
    await writeArchive(archive, fixture);
  });

  it('lists every entry with its type, mode, ids, size, mtime, name and link target', async () => {
    const { stdout, stderr } = await run('list', ['tar', '--quoting-style=literal', '--full-time', '-tvf', archive], { env: toolEnv });
    expect(stderr).toBe('');
    const lines = stdout.trimEnd().split('\n').map((l) => l.replace(/ +/g, ' '));
    expect(lines).toEqual(fixture.map(gnuListing));
  });

  it('extracts (with --xattrs, -p) to the same modes, owners, mtimes, contents, links and xattrs', async () => {
    const out = path.join(tmp, 'gnu-x');
    await mkdir(out);
    const { stderr } = await run(
      'extract',
      ['tar', '--xattrs', '--xattrs-include=user.*', '--warning=no-timestamp', '-xpf', archive, '-C', out],
      { env: toolEnv },
    );
    expect(stderr).toBe('');
    await checkExtracted(out, fixture, 'GNU tar');
  });

  it('has well-formed ustar headers: checksums, magic, empty uname/gname, paths as planned', async () => {
    const bytes = await readFile(archive);
    expect(bytes.length % 512).toBe(0);
    expect(bytes.subarray(bytes.length - 1024).every((b) => b === 0)).toBe(true); // two zero blocks end it
    const headers = headerBlocks(bytes);
    for (const h of headers) {
      const stored = parseInt(h.subarray(148, 156).toString('latin1'), 8);
      const sum = [...h].reduce((s, b, i) => s + (i >= 148 && i < 156 ? 0x20 : b), 0);
      expect(stored).toBe(sum);
      expect(h.subarray(257, 265).toString('latin1')).toBe('ustar\x0000');
      expect(h.subarray(265, 329).every((b) => b === 0)).toBe(true); // uname, gname
    }
    const paxFor = headers.filter((h) => h[156] === 0x78).map((h) => h.subarray(0, 100).toString('utf8').replace(/\0+$/, ''));
    // pax only where ustar cannot hold the entry: long paths, long link names, ids, mtimes, xattrs
    expect(paxFor).toEqual([
      'PaxHeaders/su',
      'PaxHeaders/user',
      'PaxHeaders/before-1970',
      'PaxHeaders/far-future',
      'PaxHeaders/big-ids',
      expect.stringMatching(/^PaxHeaders\/[日本語]{29}$/), // cut within 100 bytes on a character boundary
      `PaxHeaders/${'x'.repeat(89)}`,
      `PaxHeaders/${'y'.repeat(89)}`,
      `PaxHeaders/${'z'.repeat(89)}`,
      'PaxHeaders/deep-hard',
      `PaxHeaders/${'g'.repeat(89)}`,
      `PaxHeaders/${'a'.repeat(89)}`,
      `PaxHeaders/${'k'.repeat(89)}`,
      'PaxHeaders/long-symlink',
    ]);
    const ustarNames = headers.filter((h) => h[156] !== 0x78);
    const split = ustarNames.find((h) => h.subarray(0, 60).toString() === 'f'.repeat(60))!;
    expect(split.subarray(345, 345 + 67).toString()).toBe(`t/long/${'d'.repeat(60)}`); // ustar prefix
  });

  it('writes the same bytes every time, whatever the order of xattr keys', async () => {
    const reordered = fixture.map((item) =>
      item.entry.xattrs ? { ...item, entry: { ...item.entry, xattrs: Object.fromEntries(Object.entries(item.entry.xattrs).reverse()) } } : item,
    );
    const [a, b] = await Promise.all([archiveBytes(fixture), archiveBytes(reordered)]);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(await readFile(archive))).toBe(true);
  });
});

describe.skipIf(!hasBsdtar)('TarWriter read back by bsdtar (libarchive)', () => {
  it('lists the same names and extracts to the same tree', async () => {
    const archive = path.join(tmp, 'fixture-bsd.tar');
    await writeArchive(archive, fixture);
    const listed = await run('bsdtar list', ['bsdtar', '-tf', archive], { env: toolEnv });
    expect(listed.stderr).toBe('');
    expect(listed.stdout.trimEnd().split('\n')).toEqual(fixture.map(archivePath));
    const out = path.join(tmp, 'bsd-x');
    await mkdir(out);
    const x = await run('bsdtar extract', ['bsdtar', '--xattrs', '-xpf', archive, '-C', out], { env: toolEnv });
    expect(x.stderr).toBe('');
    await checkExtracted(out, fixture, 'bsdtar');
  });
});

describe('pax record lengths across digit boundaries', () => {
  // A pax record's length counts its own digits: 99 -> 100 and 999 -> 1000 are where a writer
  // that gets this wrong is caught. ` SCHILY.xattr.user.k=` + value + `\n` is value + 22 bytes;
  // ` path=` + path + `\n` is path + 7.
  const items: Item[] = [dir('p/')];
  for (const n of [74, 75, 76, 77, 78, 973, 974, 975, 976, 977]) {
    items.push(file(`p/x${n}`, Buffer.from(`${n}\n`), { xattrs: { 'user.k': pattern(n, n) } }));
  }
  const parent = `p/${'a'.repeat(250)}/${'b'.repeat(250)}/${'c'.repeat(250)}`; // 755 bytes
  items.push(dir(`p/${'a'.repeat(250)}/`), dir(`p/${'a'.repeat(250)}/${'b'.repeat(250)}/`), dir(parent));
  for (let len = 987; len <= 993; len++) items.push(file(`${parent}/${String(len).padEnd(len - parent.length - 1, 'n')}`, Buffer.from(`${len}\n`)));

  it('GNU tar reads every record', async () => {
    const archive = path.join(tmp, 'records.tar');
    await writeArchive(archive, items);
    const out = path.join(tmp, 'records-x');
    await mkdir(out);
    const { stderr } = await run('extract', ['tar', '--xattrs', '--xattrs-include=user.*', '-xpf', archive, '-C', out], { env: toolEnv });
    expect(stderr).toBe('');
    await checkExtracted(out, items, 'GNU tar');
    if (hasBsdtar) {
      const listed = await run('bsdtar list', ['bsdtar', '-tf', archive], { env: toolEnv });
      expect(listed.stdout.trimEnd().split('\n')).toEqual(items.map(archivePath));
    }
  });
});

describe('streaming', () => {
  it('streams a 20 MB file from an async generator under back-pressure', async () => {
    const size = 20 * 1024 * 1024 + 123; // not a multiple of 512: padding follows
    const chunkSize = 64 * 1024;
    const hash = createHash('sha256');
    let produced = 0;
    let consumed = 0;
    let maxAhead = 0;
    async function* generate(): AsyncGenerator<Buffer> {
      let seed = 0;
      while (produced < size) {
        const chunk = pattern(Math.min(chunkSize, size - produced), seed++); // fresh buffer: the last ones may still be queued
        hash.update(chunk);
        produced += chunk.length;
        maxAhead = Math.max(maxAhead, produced - consumed);
        yield chunk;
      }
    }
    // A consumer slower than the producer: without back-pressure the generator would race ahead
    // and the whole file would sit in memory.
    const slow = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        consumed += chunk.length;
        setImmediate(() => cb(null, chunk));
      },
    });
    const archive = path.join(tmp, 'big.tar');
    const tar = new TarWriter();
    const done = pipeline(tar.readable, slow, createWriteStream(archive));
    await tar.addEntry({ ...base, path: 'big.bin', type: 'file', mode: 0o644, size }, generate());
    await tar.finish();
    await done;

    expect(maxAhead).toBeLessThan(1024 * 1024); // a few stream buffers, not 20 MB
    const { stdout } = await run('list', ['tar', '-tvf', archive]);
    expect(stdout).toContain(` ${size} `);
    const out = path.join(tmp, 'big-x');
    await mkdir(out);
    await run('extract', ['tar', '-xf', archive, '-C', out]);
    const extracted = createHash('sha256');
    for await (const c of createReadStream(path.join(out, 'big.bin'))) extracted.update(c as Buffer);
    expect(extracted.digest('hex')).toBe(hash.digest('hex'));
  });

  it('writes into a given Writable and takes a Readable as content', async () => {
    const src = path.join(tmp, 'src.bin');
    const data = pattern(100_000, 9);
    await writeFile(src, data);
    const archive = path.join(tmp, 'output.tar');
    const tar = new TarWriter({ output: createWriteStream(archive) });
    expect(() => tar.readable).toThrow(/writes into its `output`/);
    await tar.addEntry({ ...base, path: 'from-file', type: 'file', mode: 0o644, size: data.length }, createReadStream(src));
    await tar.finish(); // resolves once the file stream has taken every byte
    const out = path.join(tmp, 'output-x');
    await mkdir(out);
    await run('extract', ['tar', '-xf', archive, '-C', out]);
    expect((await readFile(path.join(out, 'from-file'))).equals(data)).toBe(true);
  });

  it('carries a size of 8 GiB and more in a pax record', async () => {
    // Only the start of the archive is written (the content stops after 1 KiB); GNU tar lists the
    // entry from its headers, then reports the truncation (exit 2).
    const chunks: Buffer[] = [];
    const output = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    const tar = new TarWriter({ output });
    const size = 8 * 1024 ** 3;
    async function* stopEarly(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(1024);
      throw new Error('stop here');
    }
    await expect(tar.addEntry({ ...base, path: 'huge.img', type: 'file', mode: 0o644, size }, stopEarly())).rejects.toThrow('stop here');
    const head = Buffer.concat(chunks);
    expect(head.includes(Buffer.from('19 size=8589934592\n'))).toBe(true);
    const { stdout } = await run('list truncated', ['tar', '-tvf', '-'], { input: head, okCodes: [0, 2] });
    expect(stdout).toMatch(/ 8589934592 .* huge\.img\n/);
    expect(output.destroyed).toBe(false); // a caller's output is the caller's
    await expect(tar.finish()).rejects.toThrow(/an earlier call failed \(stop here\); this is a bug/);
  });
});

describe('misuse and failures', () => {
  const entry = (extra: Partial<TarEntry>): TarEntry => ({ ...base, path: 'f', type: 'file', mode: 0o644, ...extra });

  it('refuses a malformed entry as a bug, before writing, and stays usable', async () => {
    const tar = new TarWriter();
    const bytes = buffer(tar.readable);
    const bad: Array<[Partial<TarEntry>, TarContent | undefined, RegExp]> = [
      [{ mode: 0o100644 }, undefined, /mode 33188 is not within 0\.\.0o7777/],
      [{ uid: -1 }, undefined, /uid -1/],
      [{ mtime: 1.5 }, undefined, /mtime 1\.5/],
      [{ size: 3 }, Buffer.from('ab'), /size 3 but a 2-byte Buffer/],
      [{ size: 3 }, undefined, /size 3 but no content/],
      [{}, (async function* () { yield Buffer.from('x'); })(), /streamed content needs a size/],
      [{ type: 'directory' }, Buffer.from('x'), /a directory has no content/],
      [{ type: 'symlink' }, undefined, /a symlink needs a linkname/],
      [{ linkname: 'x' }, undefined, /a file has no linkname/],
      [{ path: '' }, undefined, /path "" is empty/],
      [{ path: 'a\0b' }, undefined, /holds NUL/],
      [{ path: 'bad\ud800' }, undefined, /not valid Unicode/],
      [{ xattrs: { 'user.a=b': Buffer.from('') } }, undefined, /xattr name "user\.a=b"/],
    ];
    for (const [extra, content, message] of bad) {
      const err = await tar.addEntry(entry(extra), content).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(OtaError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toMatch(/this is a bug$/);
    }
    await tar.addEntry(entry({}), Buffer.from('ok'));
    await tar.finish();
    expect((await bytes).length).toBe(512 + 512 + 1024);
  });

  it('refuses overlapping calls', async () => {
    const tar = new TarWriter();
    const bytes = buffer(tar.readable);
    const first = tar.addEntry(entry({}), Buffer.from('1'));
    await expect(tar.addEntry(entry({ path: 'g' }), Buffer.from('2'))).rejects.toThrow(/previous call has not finished/);
    await first;
    await tar.finish();
    await bytes;
    await expect(tar.addEntry(entry({}))).rejects.toThrow(/finish\(\) was already called/);
  });

  it('fails with ERR_OTA_IO when streamed content is shorter or longer than its size, and destroys its stream', async () => {
    for (const [chunks, message] of [
      [[Buffer.from('abc')], /content ended after 3 of its declared 5 bytes/],
      [[Buffer.from('abc'), Buffer.from('def')], /content is longer than its declared size of 5 bytes/],
    ] as const) {
      const tar = new TarWriter();
      const bytes = buffer(tar.readable).catch((e: unknown) => e);
      const err = await tar.addEntry(entry({ size: 5 }), (async function* () { yield* chunks; })()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OtaError);
      expect(err).toMatchObject({ code: 'ERR_OTA_IO', message: expect.stringMatching(message) });
      expect(await bytes).toBe(err); // the consumer sees the same error, not a short archive
    }
  });

  it('fails with ERR_OTA_IO when the consumer goes away', async () => {
    const tar = new TarWriter();
    tar.readable.destroy();
    const err = await tar.addEntry(entry({ size: 1 << 20 }), Buffer.alloc(1 << 20)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_OTA_IO', message: expect.stringMatching(/closed before the archive was complete/) });
  });
});
