/**
 * One copy of U-Boot's binary environment, as bytes: a CRC32 (little-endian, over the data area),
 * for a redundant environment one flags byte (the counter that says which copy is newer), then
 * `name=value\0` pairs closed by an extra `\0`, zero-padded to the environment size
 * (CONFIG_ENV_SIZE). Pure functions: which copy counts is env-redundancy.ts, where copies live is
 * env-storage.ts.
 *
 * The output matches what libubootenv's `fw_setenv` (0.3.2, Debian bookworm) writes, byte for
 * byte up to the closing NUL: names sorted in byte order (as U-Boot's `saveenv` sorts them too),
 * and the closing `\0` inside the area — fw_setenv will write a pair that fills the area to the
 * last byte, but fw_printenv then refuses to read it, so we refuse to write it. After the closing
 * NUL fw_setenv can leave stale bytes (it does not clear its buffer, and its CRC covers them; seen
 * with redundant environments); U-Boot's saveenv and we zero-fill.
 *
 * Backslashes are stored as they are, as libubootenv does, so what we read is what fw_printenv
 * prints. U-Boot itself differs: its exporter (lib/hashtable.c hexport_r) writes `\\` for a
 * backslash even in this binary format and its importer unescapes, so a value with a backslash
 * set from Linux loses it in U-Boot. Boot-counting variables never contain one.
 *
 * @example
 * const bytes = encodeUbootEnvCopy(new Map([['bootcount', '0']]), { envSize: 0x4000, redundant: true, counter: 7, where: 'uboot.env' });
 * const head = inspectUbootEnvCopy(bytes, true); // { crcOk: true, counter: 7 }
 * const vars = parseUbootEnvData(bytes, true, 'uboot.env'); // Map { 'bootcount' => '0' }
 */
import { crc32 } from 'node:zlib';
import { OtaError } from '../../common/errors.js';

/** Variables in the order they were read or set. */
export type UbootEnvVars = ReadonlyMap<string, string>;

/** Bytes before the data area: CRC32, plus the flags byte in a redundant environment. */
export function ubootEnvHeaderSize(redundant: boolean): number {
  return redundant ? 5 : 4;
}

/** What a copy's header says, before its data is trusted. */
export interface UbootEnvCopyHeader {
  crcOk: boolean;
  /** The flags byte of a redundant copy (read even when the CRC is wrong, as libubootenv does); 0 for a single copy. */
  counter: number;
}

/** Reads the header of one copy and checks its CRC, without trusting the data yet. */
export function inspectUbootEnvCopy(bytes: Uint8Array, redundant: boolean): UbootEnvCopyHeader {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = buf.subarray(ubootEnvHeaderSize(redundant));
  return {
    crcOk: buf.readUInt32LE(0) === crc32(data),
    counter: redundant ? (buf[4] ?? 0) : 0,
  };
}

/**
 * The variables of a copy whose CRC is right. Like libubootenv: an entry without `=` is skipped,
 * a later duplicate wins, `name=` is an empty value. Throws when the pairs run to the end of the
 * area without the closing `\0` (fw_printenv rejects such a copy too).
 */
export function parseUbootEnvData(bytes: Uint8Array, redundant: boolean, where: string): Map<string, string> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const vars = new Map<string, string>();
  let pos = ubootEnvHeaderSize(redundant);
  for (;;) {
    const end = buf.indexOf(0, pos);
    if (end < 0) {
      throw new OtaError('ERR_OTA_BOOTENV', `U-Boot environment has a correct CRC but its variables run to the end of the area without the closing NUL (${where})`, {
        hint: 'it was written for a larger environment size: check the size against CONFIG_ENV_SIZE',
      });
    }
    if (end === pos) return vars;
    const entry = buf.toString('utf8', pos, end);
    const eq = entry.indexOf('=');
    if (eq > 0) vars.set(entry.slice(0, eq), entry.slice(eq + 1));
    pos = end + 1;
  }
}

/** Names U-Boot can store and read back, checked before anything is written. */
export function checkUbootVariable(name: string, value: string, where: string): void {
  const bad = (what: string) =>
    new OtaError('ERR_OTA_BOOTENV', `U-Boot variable ${JSON.stringify(name)} ${what} (${where})`, {
      hint: 'U-Boot names cannot be empty, contain `=`, NUL or a newline, or start with `#`, a space or a tab; values cannot contain NUL',
    });
  if (name === '') throw bad('has an empty name');
  if (name.includes('=')) throw bad('has `=` in its name');
  if (name.includes('\0') || name.includes('\n')) throw bad('has a NUL or newline in its name');
  // U-Boot's importer skips leading blanks and treats `#` as a comment, so such a name would vanish.
  if (/^[#\t ]/.test(name)) throw bad('starts with `#`, a space or a tab, which U-Boot reads as a comment or skips');
  if (value.includes('\0')) throw bad('has a NUL in its value');
}

/** How to lay out one copy. */
export interface UbootEnvCopyOptions {
  /** Bytes per copy, header included: CONFIG_ENV_SIZE, the third field of fw_env.config. */
  envSize: number;
  redundant: boolean;
  /** Flags byte of a redundant copy, 0..255. */
  counter?: number;
  /** Where the copy goes, for messages. */
  where: string;
}

/** Byte-order comparison, as strcmp (U-Boot's qsort and libubootenv's sorted list) compares. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The bytes of one copy: header, sorted pairs, closing NUL, zero padding. */
export function encodeUbootEnvCopy(vars: UbootEnvVars, options: UbootEnvCopyOptions): Buffer {
  const { envSize, redundant, where } = options;
  const header = ubootEnvHeaderSize(redundant);
  const names = [...vars.keys()].sort(byteOrder);
  const pairs: Buffer[] = [];
  let used = 1; // the closing NUL
  for (const name of names) {
    const value = vars.get(name) ?? '';
    checkUbootVariable(name, value, where);
    const pair = Buffer.from(`${name}=${value}\0`, 'utf8');
    pairs.push(pair);
    used += pair.length;
  }
  if (header + used > envSize) {
    throw new OtaError('ERR_OTA_BOOTENV', `U-Boot environment needs ${used} bytes for its variables but an environment of ${envSize} bytes (0x${envSize.toString(16)}) holds ${envSize - header} (${where})`, {
      hint: 'shorten or drop variables, or raise the environment size (it must match CONFIG_ENV_SIZE)',
    });
  }
  const buf = Buffer.alloc(envSize);
  let pos = header;
  for (const pair of pairs) pos += pair.copy(buf, pos);
  if (redundant) {
    const counter = options.counter ?? 0;
    if (!Number.isInteger(counter) || counter < 0 || counter > 255) throw new Error(`U-Boot env counter ${counter} is not a byte, this is a bug`);
    buf[4] = counter;
  }
  buf.writeUInt32LE(crc32(buf.subarray(header)), 0);
  return buf;
}
