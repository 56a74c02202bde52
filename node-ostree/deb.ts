import { OtaError } from '../common/errors.js';

/**
 * The .deb container, read from a Buffer: which members there are and where their bytes lie.
 * Nothing is decompressed or copied here (`bytes` are subarrays of the input); the caller feeds
 * `data.bytes` to the matching decompressor and tar reader.
 *
 * The rules are deb(5)'s, as dpkg-deb applies them: an ar archive (`!<arch>\n`, 60-byte member
 * headers, data padded to an even offset) whose first member is `debian-binary` with a 2.x format
 * version, then `control.tar[.gz|.xz|.zst]`, then `data.tar[.gz|.xz|.zst]`, in that order. Members
 * whose names start with `_` may sit between them and are skipped; anything after the data member
 * is ignored (deb(5) reserves both for future extensions). Names may end in GNU ar's `/`.
 * data.tar.bz2 and .lzma, which dpkg still reads, are refused: nothing current produces them and
 * OSTree's importer is not fed them.
 *
 * Every refusal is an `OtaError('ERR_OTA_IMPORT')` whose message starts with `where`.
 *
 * @example
 * const deb = readDeb(await readFile(path), path);
 * if (deb.data.compression === 'zst') await importTar(zstdDecompress(deb.data.bytes));
 */
export function readDeb(buf: Buffer, where: string): Deb {
  const fail = (what: string, hint?: string): OtaError =>
    new OtaError('ERR_OTA_IMPORT', `${where}: ${what}`, { hint: hint ?? 'check the file with `dpkg-deb --info`; re-download it if it is damaged' });

  if (buf.length < AR_MAGIC.length || !buf.subarray(0, AR_MAGIC.length).equals(AR_MAGIC)) {
    throw fail('not a Debian package: it does not start with an ar archive signature ("!<arch>\\n")');
  }
  const members = arMembers(buf, fail);

  const first = members.next();
  if (first.done || first.value.name !== 'debian-binary') {
    throw fail(`not a Debian package: the first member is ${first.done ? 'missing' : `"${first.value.name}"`}, not "debian-binary"`);
  }
  // deb(5): the first line is the version; further lines and a larger minor number are to be ignored.
  const debianBinary = first.value.bytes.toString('latin1').split('\n', 1)[0]!;
  const version = /^(\d+)\.(\d+)$/.exec(debianBinary);
  if (!version || version[1] !== '2') {
    throw fail(
      `unsupported .deb format version ${JSON.stringify(debianBinary)} (debian-binary); only 2.x is understood`,
      version ? 'this package needs a newer dpkg format than ota reads' : undefined,
    );
  }

  const control = nextRequired(members, 'control.tar', fail);
  const data = nextRequired(members, 'data.tar', fail);
  return { debianBinary, control, data };
}

/**
 * A parsed .deb: the version line of `debian-binary` and the two tar members.
 *
 * @example
 * const { control, data } = readDeb(buf, 'curl_7.88.1-10_arm64.deb');
 */
export interface Deb {
  /** The format version line, e.g. `2.0` (without its newline). */
  debianBinary: string;
  control: DebMember;
  data: DebMember;
}

/**
 * One tar member of a .deb: its name as stored (without padding or `/`) and its raw bytes.
 *
 * @example
 * const member: DebMember = readDeb(buf, file).data; // { name: 'data.tar.xz', compression: 'xz', bytes }
 */
export interface DebMember {
  /** e.g. `data.tar.xz` */
  name: string;
  compression: DebCompression;
  /** The member's bytes, still compressed: a view into the Buffer given to readDeb, not a copy. */
  bytes: Buffer;
}

/**
 * `none` is a plain `.tar`; the others are the name suffixes `.gz`, `.xz` and `.zst`.
 *
 * @example
 * const tool: Record<DebCompression, string[] | undefined> = { gz: ['gzip', '-dc'], xz: ['xz', '-dc'], zst: ['zstd', '-dc'], none: undefined };
 */
export type DebCompression = 'gz' | 'xz' | 'zst' | 'none';

const AR_MAGIC = Buffer.from('!<arch>\n', 'latin1');
const HEADER = 60;
const SUFFIXES: Record<string, DebCompression> = { '': 'none', '.gz': 'gz', '.xz': 'xz', '.zst': 'zst' };
const KNOWN_UNSUPPORTED: Record<string, string> = { '.bz2': 'bzip2', '.lzma': 'lzma' };

type Fail = (what: string, hint?: string) => OtaError;

interface ArMember {
  name: string;
  offset: number;
  bytes: Buffer;
}

/**
 * The ar members in order, parsed lazily: members after the data member are never looked at, so
 * trailing extensions (or trailing junk) cannot make a good package fail.
 */
function* arMembers(buf: Buffer, fail: Fail): Generator<ArMember, void, undefined> {
  let offset = AR_MAGIC.length;
  while (offset < buf.length) {
    if (buf.length - offset < HEADER) {
      throw fail(`truncated: an ar member header at offset ${offset} has ${buf.length - offset} of its ${HEADER} bytes`);
    }
    const header = buf.subarray(offset, offset + HEADER);
    // ar headers are ASCII text: name[16] mtime[12] uid[6] gid[6] mode[8] size[10] "`\n"
    if (header[58] !== 0x60 || header[59] !== 0x0a) {
      throw fail(`corrupt: no ar member header at offset ${offset} (it does not end with "\`\\n")`);
    }
    // deb(5): no long-name extensions, but names may end with GNU ar's '/'; padding is spaces.
    const name = header.toString('latin1', 0, 16).trimEnd().replace(/\/$/, '');
    const sizeField = header.toString('latin1', 48, 58);
    if (!/^\d+ *$/.test(sizeField)) {
      throw fail(`corrupt: ar member "${name}" at offset ${offset} has a size field of ${JSON.stringify(sizeField)}`);
    }
    const size = Number.parseInt(sizeField, 10);
    const start = offset + HEADER;
    if (size > buf.length - start) {
      throw fail(`truncated: ar member "${name}" at offset ${offset} declares ${size} bytes but only ${buf.length - start} follow`);
    }
    yield { name, offset, bytes: buf.subarray(start, start + size) };
    offset = start + size + (size % 2); // members start at even offsets
  }
}

/** The next member that is not an `_` extension; it must be `<stem>` with a known suffix. */
function nextRequired(members: Generator<ArMember, void, undefined>, stem: 'control.tar' | 'data.tar', fail: Fail): DebMember {
  for (let m = members.next(); ; m = members.next()) {
    if (m.done) throw fail(`not a complete Debian package: the ${stem} member is missing`);
    const { name, offset, bytes } = m.value;
    if (name.startsWith('_')) continue;
    if (!name.startsWith(stem)) {
      throw fail(`not a Debian package: expected the ${stem} member, found "${name}" at offset ${offset}`);
    }
    const suffix = name.slice(stem.length);
    const compression = SUFFIXES[suffix];
    if (compression === undefined) {
      const known = KNOWN_UNSUPPORTED[suffix];
      throw fail(
        `${name}: ${known ? `${known} compression is not supported` : `unknown compression suffix "${suffix}"`} (ota reads .gz, .xz, .zst or none)`,
        known ? 'rebuild the package with `dpkg-deb -Zxz` (or gzip, zstd)' : undefined,
      );
    }
    return { name, compression, bytes };
  }
}
