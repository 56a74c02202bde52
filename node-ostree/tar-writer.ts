import { PassThrough, type Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { OtaError } from '../common/errors.js';

/**
 * A streaming POSIX tar (pax interchange format) writer, used to export an OSTree commit as a tar
 * stream without a checkout on disk.
 *
 * Format choices, all so that the same entries always give the same bytes and both GNU tar and
 * libarchive (bsdtar, ostree's own importer) read them:
 * - ustar headers (magic `ustar\0`, version `00`); a pax extended header (typeflag `x`) precedes an
 *   entry only when ustar cannot hold it: a path or link name that does not fit (name <= 100 bytes,
 *   or prefix <= 155 bytes + `/` + name <= 100 bytes), a size >= 8 GiB, a uid/gid above 0o7777777,
 *   an mtime outside 0..0o77777777777, or xattrs. The ustar field is then written as 0 (or a
 *   truncated name), as GNU tar does, and the pax record carries the real value.
 * - xattrs are `SCHILY.xattr.<name>=<raw bytes>` records, sorted by name: the spelling GNU tar
 *   (`--xattrs`) and libarchive both read and write.
 * - uname and gname are always EMPTY. Extractors then use the numeric uid/gid without needing
 *   `--numeric-owner`; an OS tree's names belong to its own /etc/passwd, not the extracting host's,
 *   and "root" for 0 would add nothing but a lookup.
 * - No clock, host or process is read: the pax header's own name is `PaxHeaders/<basename>` (not
 *   GNU tar's `%d/PaxHeaders.%p/%f`, which holds a pid) and its mtime, uid and gid are 0.
 * - Names are written as their UTF-8 bytes; a non-ASCII name that fits ustar gets no pax record, so
 *   no reader has to convert it from UTF-8 to its locale. One that does not fit goes into a pax
 *   `path` (UTF-8, as POSIX says): libarchive converts that to the reader's locale and, in the C
 *   locale, warns (bsdtar exits 1; ostree's importer fails on any warning), so read such archives
 *   in a UTF-8 locale. `hdrcharset=BINARY` would silence libarchive but makes GNU tar warn.
 *
 * Entries are written in the order given; a hardlink's target must come earlier (tar extracts in
 * order). Calls must not overlap: await each `addEntry` before the next. Each write waits for the
 * consumer (back-pressure), so a large file streams through in chunks; it follows that the archive
 * must be consumed WHILE entries are added (start the pipeline first, then add entries).
 *
 * Errors: a malformed entry (bad mode, content for a directory, ...) is a caller bug, a plain
 * `Error` thrown before anything is written, and the writer stays usable. Content that does not
 * match its declared size, and a failing output, are `OtaError('ERR_OTA_IO')`; the archive is then
 * incomplete, the writer refuses further calls, and the stream it owns is destroyed with the error
 * (a caller's own `output` is left to the caller).
 *
 * @example
 * const tar = new TarWriter();
 * const done = pipeline(tar.readable, createWriteStream('commit.tar'));
 * await tar.addEntry({ path: 'usr/', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
 * await tar.addEntry(
 *   { path: 'usr/bin/su', type: 'file', mode: 0o4755, uid: 0, gid: 0, mtime: 0, size: 4 },
 *   Buffer.from('#!su'),
 * );
 * await tar.addEntry({ path: 'usr/bin/sh', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: 'dash' });
 * await tar.finish();
 * await done;
 */
export class TarWriter {
  readonly #out: Writable;
  readonly #owned: PassThrough | undefined;
  #busy = false;
  #finished = false;
  #failed: Error | undefined;
  #outputError: Error | undefined;

  /** @param options.output a stream to write into instead of {@link TarWriter.readable}; ended by `finish()` */
  constructor(options: { output?: Writable } = {}) {
    this.#owned = options.output ? undefined : new PassThrough();
    this.#out = options.output ?? this.#owned!;
    // Listening keeps an output error from crashing the process when nobody else listens; it is
    // reported by the next addEntry/finish instead.
    this.#out.on('error', (e: Error) => {
      this.#outputError ??= e;
    });
  }

  /**
   * The archive as a byte stream (only when no `output` was given).
   *
   * @example
   * const upload = pipeline(tar.readable, createGzip(), response);
   */
  get readable(): Readable {
    if (!this.#owned) throw new Error('TarWriter.readable: this writer writes into its `output`; this is a bug');
    return this.#owned;
  }

  /**
   * Appends one entry. `content` is required for a file with size > 0 and must be exactly `size`
   * bytes (`size` defaults to a Buffer's length; a stream needs it, the header comes first).
   *
   * @example
   * await tar.addEntry(
   *   { path: 'var/big.img', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: st.size },
   *   createReadStream('big.img'),
   * );
   */
  async addEntry(entry: TarEntry, content?: TarContent): Promise<void> {
    const { header, size } = encodeEntry(entry, content);
    this.#enter(`add ${JSON.stringify(entry.path)}`);
    try {
      await this.#write(header);
      if (content !== undefined) await this.#writeContent(entry.path, size, content);
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if (pad > 0) await this.#write(ZEROS.subarray(0, pad));
    } catch (e) {
      throw this.#fail(e);
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Writes the end-of-archive marker (two zero blocks), ends the output and resolves once it has
   * taken every byte (for {@link TarWriter.readable}: once the consumer has read up to the end).
   *
   * @example
   * await tar.finish();
   */
  async finish(): Promise<void> {
    this.#enter('finish');
    this.#finished = true;
    try {
      await this.#write(ZEROS.subarray(0, 2 * BLOCK));
      this.#out.end();
      await finished(this.#out, { readable: false });
    } catch (e) {
      throw this.#fail(e);
    } finally {
      this.#busy = false;
    }
  }

  #enter(what: string): void {
    const state = this.#busy
      ? 'the previous call has not finished (await each call)'
      : this.#finished
        ? 'finish() was already called'
        : this.#failed
          ? `an earlier call failed (${this.#failed.message})`
          : undefined;
    if (state) throw new Error(`TarWriter: cannot ${what}: ${state}; this is a bug`, { cause: this.#failed });
    this.#busy = true;
  }

  #fail(e: unknown): Error {
    // The output's own error (EPIPE, ENOSPC, ...) gets a code and says what was being written.
    const err =
      e instanceof Error && e === this.#outputError && !(e instanceof OtaError)
        ? new OtaError('ERR_OTA_IO', `writing the tar stream: ${e.message}`, { cause: e })
        : e instanceof Error
          ? e
          : new Error(String(e));
    this.#failed = err;
    this.#owned?.destroy(err);
    return err;
  }

  async #writeContent(path: string, size: number, content: TarContent): Promise<void> {
    if (content instanceof Uint8Array) {
      await this.#write(content); // length checked by encodeEntry
      return;
    }
    let seen = 0;
    for await (const chunk of content as AsyncIterable<unknown>) {
      if (!(chunk instanceof Uint8Array)) {
        throw new Error(`TarWriter: content of ${JSON.stringify(path)} yielded a ${typeof chunk}, not a Buffer; this is a bug`);
      }
      if (seen + chunk.length > size) {
        throw new OtaError('ERR_OTA_IO', `tar entry ${JSON.stringify(path)}: content is longer than its declared size of ${size} bytes`);
      }
      seen += chunk.length;
      if (chunk.length > 0) await this.#write(chunk);
    }
    if (seen !== size) {
      throw new OtaError('ERR_OTA_IO', `tar entry ${JSON.stringify(path)}: content ended after ${seen} of its declared ${size} bytes`);
    }
  }

  /** Writes one chunk and, when the output's buffer is full, waits for it to drain. */
  async #write(chunk: Uint8Array): Promise<void> {
    const out = this.#out;
    if (this.#outputError) throw this.#outputError;
    if (out.destroyed || out.writableEnded) throw closedError();
    if (out.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      const settle = (err?: Error): void => {
        out.off('drain', onDrain);
        out.off('error', onError);
        out.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = (): void => settle();
      const onError = (e: Error): void => settle(e);
      const onClose = (): void => settle(this.#outputError ?? closedError());
      out.on('drain', onDrain);
      out.on('error', onError);
      out.on('close', onClose);
    });
  }
}

/**
 * One archive member. Numbers are integers; `mtime` is in seconds since the epoch (may be negative).
 *
 * @example
 * const entry: TarEntry = {
 *   path: 'usr/bin/ping', type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 90_000,
 *   xattrs: { 'security.capability': capBytes },
 * };
 */
export interface TarEntry {
  /** Relative path as it should appear in the archive (UTF-8); a directory gets a trailing `/` if missing. */
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (0 to 0o7777), without the file-type bits. */
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** Files only: byte count of `content`; required for streamed content (default: a Buffer's length, else 0). */
  size?: number;
  /** Symlinks: the target as stored. Hardlinks: the archive path of an earlier entry. */
  linkname?: string;
  /** Extended attributes, e.g. `{ 'security.capability': buf }`; written sorted by name. */
  xattrs?: Record<string, Buffer>;
}

/**
 * What an entry is (tar typeflags 0, 5, 2 and 1). OSTree holds no device nodes or fifos.
 *
 * @example
 * const type: TarEntryType = info.isSymlink ? 'symlink' : 'file';
 */
export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

/**
 * A file's bytes: all at once, or streamed. Each chunk must be a Buffer that is not modified
 * afterwards (it may still sit in a stream buffer).
 *
 * @example
 * const content: TarContent = createReadStream(file); // or Buffer.from('...'), or an async generator
 */
export type TarContent = Buffer | AsyncIterable<Buffer> | Readable;

const BLOCK = 512;
const ZEROS = Buffer.alloc(2 * BLOCK);
const MAX_OCTAL_7 = 0o7777777; // uid, gid, mode: 7 digits + NUL in 8 bytes
const MAX_OCTAL_11 = 0o77777777777; // size, mtime: 11 digits + NUL in 12 bytes (size: 8 GiB - 1)
const TYPEFLAG: Record<TarEntryType, string> = { file: '0', hardlink: '1', symlink: '2', directory: '5' };

function closedError(): OtaError {
  return new OtaError('ERR_OTA_IO', 'the tar output was closed before the archive was complete');
}

/**
 * Validates an entry and returns its header blocks (pax + ustar, or ustar alone) and content size.
 * Pure, so that a bad entry throws before a single byte is written.
 */
function encodeEntry(entry: TarEntry, content: TarContent | undefined): { header: Buffer; size: number } {
  const bug = (what: string): Error => new Error(`TarWriter: entry ${JSON.stringify(entry.path)}: ${what}; this is a bug`);
  const { type } = entry;
  if (!(type in TYPEFLAG)) throw bug(`unknown type ${JSON.stringify(type)}`);
  if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777) {
    throw bug(`mode ${entry.mode} is not within 0..0o7777 (pass mode & 0o7777, without file-type bits)`);
  }
  for (const [k, v] of [['uid', entry.uid], ['gid', entry.gid]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw bug(`${k} ${v} is not a non-negative integer`);
  }
  if (!Number.isSafeInteger(entry.mtime)) throw bug(`mtime ${entry.mtime} is not an integer number of seconds`);

  let size = 0;
  if (type === 'file') {
    if (entry.size === undefined && content !== undefined && !(content instanceof Uint8Array)) {
      throw bug('streamed content needs a size (the header, which holds it, comes first)');
    }
    size = entry.size ?? (content instanceof Uint8Array ? content.length : 0);
    if (!Number.isSafeInteger(size) || size < 0) throw bug(`size ${size} is not a non-negative integer`);
    if (content instanceof Uint8Array && content.length !== size) throw bug(`size ${size} but a ${content.length}-byte Buffer`);
    if (content === undefined && size > 0) throw bug(`size ${size} but no content`);
  } else {
    if (content !== undefined) throw bug(`a ${type} has no content`);
    if (entry.size !== undefined && entry.size !== 0) throw bug(`a ${type} has no size (got ${entry.size})`);
  }
  const isLink = type === 'symlink' || type === 'hardlink';
  if (isLink !== (entry.linkname !== undefined)) throw bug(isLink ? `a ${type} needs a linkname` : `a ${type} has no linkname`);

  // Checked before a directory's '/' is added, so that '' cannot become '/'.
  let path = utf8(entry.path, 'path', bug);
  if (type === 'directory' && path[path.length - 1] !== 0x2f) path = Buffer.concat([path, Buffer.from('/')]);
  const linkname = entry.linkname === undefined ? Buffer.alloc(0) : utf8(entry.linkname, 'linkname', bug);

  // Decide field by field what ustar can hold; everything else goes into pax records.
  const records: Buffer[] = [];
  const split = splitUstarPath(path);
  if (!split) records.push(paxRecord('path', path));
  if (linkname.length > 100) records.push(paxRecord('linkpath', linkname));
  const fits = (key: string, value: number, max: number): number => {
    if (value >= 0 && value <= max) return value;
    records.push(paxRecord(key, Buffer.from(String(value))));
    return 0;
  };
  const ustar = ustarHeader({
    name: split?.name ?? truncateUtf8(path, 100),
    prefix: split?.prefix ?? Buffer.alloc(0),
    mode: entry.mode,
    uid: fits('uid', entry.uid, MAX_OCTAL_7),
    gid: fits('gid', entry.gid, MAX_OCTAL_7),
    size: fits('size', size, MAX_OCTAL_11),
    mtime: fits('mtime', entry.mtime, MAX_OCTAL_11),
    typeflag: TYPEFLAG[type],
    linkname: truncateUtf8(linkname, 100),
  });
  const names = Object.keys(entry.xattrs ?? {}).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of names) {
    // `=` ends a pax keyword and NUL ends a C string: no reader could give such a name back.
    if (name === '' || /[=\0\n]/.test(name)) throw bug(`xattr name ${JSON.stringify(name)} cannot be written`);
    const value = entry.xattrs![name];
    if (!(value instanceof Uint8Array)) throw bug(`xattr ${name} is not a Buffer`);
    records.push(paxRecord(`SCHILY.xattr.${name}`, value));
  }
  if (records.length === 0) return { header: ustar, size };

  const data = Buffer.concat(records);
  const base = path.subarray(0, path.length - (path[path.length - 1] === 0x2f ? 1 : 0));
  const paxHeader = ustarHeader({
    name: truncateUtf8(Buffer.concat([Buffer.from('PaxHeaders/'), base.subarray(base.lastIndexOf(0x2f) + 1)]), 100),
    prefix: Buffer.alloc(0),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: 0,
    typeflag: 'x',
    linkname: Buffer.alloc(0),
  });
  const pad = ZEROS.subarray(0, (BLOCK - (data.length % BLOCK)) % BLOCK);
  return { header: Buffer.concat([paxHeader, data, pad, ustar]), size };
}

function utf8(text: string, what: string, bug: (what: string) => Error): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  // A lone surrogate would silently become U+FFFD: a different name than the caller meant.
  if (text === '' || text.includes('\0') || bytes.toString('utf8') !== text) {
    throw bug(`${what} ${JSON.stringify(text)} is empty, holds NUL or is not valid Unicode`);
  }
  return bytes;
}

/**
 * ustar's split of a long path: `prefix` (<= 155 bytes) + `/` + `name` (<= 100 bytes, not empty),
 * at the first `/` that works (as GNU tar picks it). 0x2f never occurs inside a multi-byte UTF-8
 * sequence, so a byte search is safe. Undefined when no split fits.
 */
function splitUstarPath(path: Buffer): { name: Buffer; prefix: Buffer } | undefined {
  if (path.length <= 100) return { name: path, prefix: Buffer.alloc(0) };
  for (let i = Math.max(1, path.length - 101); i <= Math.min(155, path.length - 2); i++) {
    if (path[i] === 0x2f) return { prefix: path.subarray(0, i), name: path.subarray(i + 1) };
  }
  return undefined;
}

/** The longest prefix of `bytes` within `max` bytes that does not cut a UTF-8 sequence. */
function truncateUtf8(bytes: Buffer, max: number): Buffer {
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** `"<len> <key>=<value>\n"`, where len counts the whole record, its own digits included. */
function paxRecord(key: string, value: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (len !== body.length + String(len).length) len = body.length + String(len).length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

interface UstarFields {
  name: Buffer;
  prefix: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Buffer;
}

function ustarHeader(f: UstarFields): Buffer {
  const h = Buffer.alloc(BLOCK);
  f.name.copy(h, 0);
  octal(h, 100, 8, f.mode);
  octal(h, 108, 8, f.uid);
  octal(h, 116, 8, f.gid);
  octal(h, 124, 12, f.size);
  octal(h, 136, 12, f.mtime);
  h.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
  h.write(f.typeflag, 156, 'latin1');
  f.linkname.copy(h, 157);
  h.write('ustar\x0000', 257, 'latin1');
  // uname (265) and gname (297) stay empty: see the class comment.
  octal(h, 329, 8, 0); // devmajor, devminor: no device nodes in OSTree
  octal(h, 337, 8, 0);
  f.prefix.copy(h, 345);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/** Zero-padded octal digits followed by a NUL, filling `len` bytes. */
function octal(h: Buffer, offset: number, len: number, value: number): void {
  const digits = value.toString(8).padStart(len - 1, '0');
  if (digits.length > len - 1) throw new Error(`TarWriter: ${value} does not fit ${len - 1} octal digits; this is a bug`);
  h.write(`${digits}\0`, offset, 'latin1');
}
