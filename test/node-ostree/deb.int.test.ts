import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { readDeb, type DebCompression } from '../../node-ostree/deb.js';

// Real packages from dpkg-deb in each compression, read by readDeb and checked against `ar` (the
// members' names and bytes) and `dpkg-deb -c` (what the data member holds); then hand-made broken
// archives, each of which must be refused with ERR_OTA_IMPORT naming the file. Where dpkg has the
// same rule, dpkg-deb must refuse the same bytes too.

let tmp: string;
let pkgDir: string;
const CONTROL = 'Package: ota-fixture\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Fixture <fixture@example.org>\nDescription: readDeb fixture\n';
const env = { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8', SOURCE_DATE_EPOCH: '1700000000' };

/** dpkg-deb's -Z names and the member suffix / compression each gives. */
const FORMATS: Array<{ z: string; suffix: string; compression: DebCompression; decompress: string[] | undefined }> = [
  { z: 'xz', suffix: '.xz', compression: 'xz', decompress: ['xz', '-dc'] },
  { z: 'gzip', suffix: '.gz', compression: 'gz', decompress: ['gzip', '-dc'] },
  { z: 'zstd', suffix: '.zst', compression: 'zst', decompress: ['zstd', '-dc'] },
  { z: 'none', suffix: '', compression: 'none', decompress: undefined },
];
const debs = new Map<string, string>();

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-deb-'));
  pkgDir = path.join(tmp, 'pkg');
  await mkdir(path.join(pkgDir, 'DEBIAN'), { recursive: true });
  await writeFile(path.join(pkgDir, 'DEBIAN/control'), CONTROL);
  await writeFile(path.join(pkgDir, 'DEBIAN/postinst'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  for (const d of ['usr/bin', 'usr/share/doc/ota-fixture', 'usr/share/ünïcødé', 'etc/ota']) await mkdir(path.join(pkgDir, d), { recursive: true });
  await writeFile(path.join(pkgDir, 'usr/bin/tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  await writeFile(path.join(pkgDir, 'usr/share/doc/ota-fixture/README'), 'fixture\n'.repeat(1000));
  await writeFile(path.join(pkgDir, 'usr/share/ünïcødé/日本語'), 'こんにちは\n');
  await writeFile(path.join(pkgDir, 'etc/ota/empty'), '');
  // ~200 KB that does not compress to nothing, so that the member is bigger than a few blocks
  let x = 12345;
  const noise = Buffer.alloc(200_000, 0).map(() => ((x = (x * 1103515245 + 12345) >>> 0) >>> 24) & 0x3f);
  await writeFile(path.join(pkgDir, 'usr/share/ota-fixture.bin'), noise);
  await symlink('tool', path.join(pkgDir, 'usr/bin/tool-link'));
  for (const d of ['', 'DEBIAN', 'usr', 'usr/bin', 'usr/share', 'usr/share/doc', 'usr/share/doc/ota-fixture', 'usr/share/ünïcødé', 'etc', 'etc/ota']) {
    await chmod(path.join(pkgDir, d), 0o755); // mkdtemp's 0700 would end up in data.tar
  }
  await Promise.all(
    FORMATS.map(async ({ z }) => {
      const out = path.join(tmp, `fixture-${z}.deb`);
      await run(`build ${z} deb`, ['dpkg-deb', '--root-owner-group', `-Z${z}`, '--build', pkgDir, out], { env });
      debs.set(z, out);
    }),
  );
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function decompress(argv: string[] | undefined, bytes: Buffer): Promise<Buffer> {
  if (!argv) return bytes;
  return (await run(`decompress with ${argv[0]}`, argv, { input: bytes, binary: true })).stdout;
}

describe.each(FORMATS)('a dpkg-deb -Z$z package', ({ z, suffix, compression, decompress: argv }) => {
  it('has the members ar lists, with their exact bytes as views into the input', async () => {
    const file = debs.get(z)!;
    const buf = await readFile(file);
    const deb = readDeb(buf, file);
    expect(deb.debianBinary).toBe('2.0');
    expect(deb.control).toMatchObject({ name: `control.tar${suffix}`, compression });
    expect(deb.data).toMatchObject({ name: `data.tar${suffix}`, compression });
    const { stdout: names } = await run('ar t', ['ar', 't', file]);
    expect(names.trimEnd().split('\n')).toEqual(['debian-binary', deb.control.name, deb.data.name]);
    for (const member of [deb.control, deb.data]) {
      const { stdout } = await run('ar p', ['ar', 'p', file, member.name], { binary: true });
      expect(member.bytes.equals(stdout)).toBe(true);
      expect(member.bytes.buffer === buf.buffer, 'a view into the input, not a copy').toBe(true);
    }
  });

  it('data decompresses to the tree dpkg-deb -c lists; control holds the control file', async () => {
    const file = debs.get(z)!;
    const deb = readDeb(await readFile(file), file);
    const dataTar = await decompress(argv, deb.data.bytes);
    const listed = await run('list data', ['tar', '--quoting-style=literal', '-tvf', '-'], { input: dataTar, env });
    const reference = await run('dpkg-deb -c', ['dpkg-deb', '-c', file], { env });
    expect(listed.stdout).toBe(reference.stdout);
    expect(listed.stdout).toContain('./usr/share/ünïcødé/日本語');
    expect(listed.stdout).toContain('./usr/bin/tool-link -> tool');

    const controlTar = await decompress(argv, deb.control.bytes);
    const names = await run('list control', ['tar', '-tf', '-'], { input: controlTar });
    expect(names.stdout.split('\n')).toEqual(expect.arrayContaining(['./control', './postinst']));
    const control = await run('read control', ['tar', '-xOf', '-', './control'], { input: controlTar });
    expect(control.stdout).toBe(CONTROL);
  });
});

/** An ar archive from members; `pad: false` leaves out the byte that aligns an odd-sized member. */
function ar(members: Array<[name: string, data: Buffer | string]>, options: { pad?: boolean } = {}): Buffer {
  const parts: Buffer[] = [Buffer.from('!<arch>\n', 'latin1')];
  for (const [name, raw] of members) {
    const data = Buffer.from(raw);
    parts.push(arHeader(name, String(data.length)), data);
    if (data.length % 2 === 1 && options.pad !== false) parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

function arHeader(name: string, size: string, end = '`\n'): Buffer {
  const fields = [name.padEnd(16), '0'.padEnd(12), '0'.padEnd(6), '0'.padEnd(6), '100644'.padEnd(8), size.padEnd(10), end];
  return Buffer.from(fields.join(''), 'latin1');
}

describe('container variants dpkg accepts', () => {
  it('reads GNU ar names ("debian-binary/"), as `ar rcD` writes them', async () => {
    const file = debs.get('xz')!;
    const dir = path.join(tmp, 'gnu-ar');
    await mkdir(dir);
    await run('ar x', ['ar', 'x', file], { cwd: dir });
    const gnu = path.join(tmp, 'gnu.deb');
    await run('ar rcD', ['ar', 'rcD', gnu, 'debian-binary', 'control.tar.xz', 'data.tar.xz'], { cwd: dir });
    const buf = await readFile(gnu);
    expect(buf.subarray(8, 24).toString('latin1')).toBe('debian-binary/  '); // really the GNU spelling
    const deb = readDeb(buf, gnu);
    const original = readDeb(await readFile(file), file);
    expect(deb.control.name).toBe('control.tar.xz');
    expect(deb.data.bytes.equals(original.data.bytes)).toBe(true);
    expect(deb.control.bytes.equals(original.control.bytes)).toBe(true);
  });

  it('skips `_` members before control and data, ignores members after data, and a newer 2.x', async () => {
    const original = readDeb(await readFile(debs.get('gzip')!), 'fixture');
    const buf = ar([
      ['debian-binary', '2.9\nfuture line\n'],
      ['_signature', 'odd'],
      ['control.tar.gz', original.control.bytes],
      ['_extra', 'x'],
      ['data.tar.gz', original.data.bytes],
      ['zz-trailing', 'ignored'],
    ]);
    const file = path.join(tmp, 'extended.deb');
    await writeFile(file, Buffer.concat([buf, Buffer.from('trailing junk that is not a member')]));
    const deb = readDeb(await readFile(file), file);
    expect(deb.debianBinary).toBe('2.9');
    expect(deb.data.bytes.equals(original.data.bytes)).toBe(true);
    await run('dpkg-deb agrees', ['dpkg-deb', '-c', file]); // dpkg reads it too
  });
});

describe('broken packages', () => {
  let good: Buffer;
  let control: Buffer;
  let data: Buffer;
  beforeAll(async () => {
    good = await readFile(debs.get('xz')!);
    ({ control: { bytes: control }, data: { bytes: data } } = readDeb(good, 'good'));
  });
  const offsetOf = (buf: Buffer, name: string): number => buf.indexOf(Buffer.from(name));

  // [what, bytes, expected message, does dpkg-deb -c refuse it too?]
  const cases: Array<[string, () => Buffer, RegExp, boolean]> = [
    ['an empty file', () => Buffer.alloc(0), /not a Debian package: it does not start with an ar archive signature/, true],
    ['a text file', () => Buffer.from('Package: foo\n'), /does not start with an ar archive signature/, true],
    ['a magic without its newline', () => Buffer.from('!<arch>'), /does not start with an ar archive signature/, true],
    ['a bare data.tar.xz', () => data, /does not start with an ar archive signature/, true],
    ['an empty ar archive', () => ar([]), /the first member is missing, not "debian-binary"/, true],
    ['control before debian-binary', () => ar([['control.tar.xz', control], ['debian-binary', '2.0\n'], ['data.tar.xz', data]]), /the first member is "control\.tar\.xz", not "debian-binary"/, true],
    ['a header cut short', () => good.subarray(0, 8 + 30), /truncated: an ar member header at offset 8 has 30 of its 60 bytes/, true],
    ['the data member cut short', () => good.subarray(0, good.length - 100), /truncated: ar member "data\.tar\.xz" at offset \d+ declares \d+ bytes but only \d+ follow/, true],
    ['the control member cut short', () => good.subarray(0, offsetOf(good, 'control.tar.xz') + 60 + 10), /truncated: ar member "control\.tar\.xz" at offset 72 declares \d+ bytes but only 10 follow/, true],
    ['a header without its "`\\n" end', () => Buffer.concat([Buffer.from('!<arch>\n'), arHeader('debian-binary', '4', 'XX'), Buffer.from('2.0\n')]), /corrupt: no ar member header at offset 8/, true],
    ['a size that is not a number', () => Buffer.concat([Buffer.from('!<arch>\n'), arHeader('debian-binary', '4x'), Buffer.from('2.0\n')]), /corrupt: ar member "debian-binary" at offset 8 has a size field of "4x {8}"/, true],
    ['an odd member without its padding byte', () => ar([['debian-binary', '2.0\n'], ['_odd', 'abc'], ['control.tar.xz', control], ['data.tar.xz', data]], { pad: false }), /corrupt: no ar member header at offset 136/, true],
    ['no control member (data follows debian-binary)', () => ar([['debian-binary', '2.0\n'], ['data.tar.xz', data]]), /expected the control\.tar member, found "data\.tar\.xz" at offset 72/, true],
    ['no control member (nothing follows)', () => ar([['debian-binary', '2.0\n']]), /not a complete Debian package: the control\.tar member is missing/, true],
    ['no data member', () => ar([['debian-binary', '2.0\n'], ['control.tar.xz', control]]), /not a complete Debian package: the data\.tar member is missing/, true],
    ['only `_` members after control', () => ar([['debian-binary', '2.0\n'], ['control.tar.xz', control], ['_x', '1']]), /the data\.tar member is missing/, true],
    ['an unknown member before data', () => ar([['debian-binary', '2.0\n'], ['control.tar.xz', control], ['foo', 'x'], ['data.tar.xz', data]]), /expected the data\.tar member, found "foo" at offset \d+/, true],
    ['format version 3.0', () => ar([['debian-binary', '3.0\n'], ['control.tar.xz', control], ['data.tar.xz', data]]), /unsupported \.deb format version "3\.0" \(debian-binary\); only 2\.x is understood/, true],
    ['a version that is no version', () => ar([['debian-binary', 'two\n'], ['control.tar.xz', control], ['data.tar.xz', data]]), /unsupported \.deb format version "two"/, true],
    ['an empty debian-binary', () => ar([['debian-binary', ''], ['control.tar.xz', control], ['data.tar.xz', data]]), /unsupported \.deb format version ""/, true],
    ['bzip2 data (dpkg reads it; ota does not)', () => ar([['debian-binary', '2.0\n'], ['control.tar.xz', control], ['data.tar.bz2', 'BZh']]), /data\.tar\.bz2: bzip2 compression is not supported \(ota reads \.gz, \.xz, \.zst or none\)/, false],
    ['an unknown data suffix', () => ar([['debian-binary', '2.0\n'], ['control.tar.xz', control], ['data.tar.lz4', data]]), /data\.tar\.lz4: unknown compression suffix "\.lz4"/, true],
    ['an unknown control suffix', () => ar([['debian-binary', '2.0\n'], ['control.tar.bz2', control], ['data.tar.xz', data]]), /control\.tar\.bz2: bzip2 compression is not supported/, true],
  ];

  it.each(cases)('refuses %s', async (what, make, message, dpkgRefuses) => {
    const buf = make();
    const where = `/srv/debs/${what.replace(/\W+/g, '-')}.deb`;
    let err: unknown;
    try {
      readDeb(buf, where);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OtaError);
    expect(err).toMatchObject({ code: 'ERR_OTA_IMPORT', exitCode: 1 });
    const text = (err as OtaError).message;
    expect(text.startsWith(`${where}: `)).toBe(true);
    expect(text).toMatch(message);
    expect((err as OtaError).hint).toBeTruthy();
    if (dpkgRefuses) {
      const file = path.join(tmp, `broken-${cases.findIndex(([w]) => w === what)}.deb`);
      await writeFile(file, buf);
      const { code } = await run('dpkg-deb -c', ['dpkg-deb', '-c', file], { okCodes: [0, 1, 2] });
      expect(code, 'dpkg-deb -c should refuse it too').not.toBe(0);
    }
  });
});
