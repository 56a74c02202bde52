import { OtaError } from '../common/errors.js';
import { decodeVariant, dict, encodeVariant, GVariantValue } from './gvariant.js';

/**
 * OSTree's metadata objects, read and written in TypeScript (the formats are ostree-core.h's).
 * One FFI call to load an object's bytes plus these decoders replaces a dozen GVariant accessor
 * calls per object.
 *
 * The one trap: OSTree stores the commit timestamp, the uid/gid/mode of dirmeta objects and the
 * size/uid/gid/mode/rdev of file headers BIG-ENDIAN (GUINT32_TO_BE) inside otherwise
 * little-endian GVariants, a leftover from when GVariant data was declared big-endian. GLib
 * cannot know that, so these fields are byte-swapped here after decoding.
 */

// The GVariant types of OSTree objects (ostree-core.h), exported for decodeVariant() on parts the
// decoders below do not cover.

/**
 * OSTREE_COMMIT_GVARIANT_STRING: metadata, parent, related, subject, body, timestamp (BE), root
 * dirtree, root dirmeta.
 *
 * @example
 * const [metadata] = decodeVariant(COMMIT_TYPE, bytes) as [unknown];
 */
export const COMMIT_TYPE = '(a{sv}aya(say)sstayay)';
/** OSTREE_TREE_GVARIANT_STRING: files (name, content checksum), dirs (name, dirtree checksum, dirmeta checksum). @example decodeVariant(DIRTREE_TYPE, bytes) */
export const DIRTREE_TYPE = '(a(say)a(sayay))';
/** OSTREE_DIRMETA_GVARIANT_STRING: uid, gid, mode (all BE), xattrs. @example decodeVariant(DIRMETA_TYPE, bytes) */
export const DIRMETA_TYPE = '(uuua(ayay))';
/** _OSTREE_ZLIB_FILE_HEADER_GVARIANT_FORMAT: size, uid, gid, mode, rdev (all BE), symlink target, xattrs. @example decodeVariant(FILE_HEADER_TYPE, bytes) */
export const FILE_HEADER_TYPE = '(tuuuusa(ayay))';
/** Detached metadata (`.commitmeta`) and commit metadata: a string-keyed dictionary of variants. @example dict(decodeVariant(METADATA_TYPE, bytes)) */
export const METADATA_TYPE = 'a{sv}';

/**
 * A decoded commit object.
 *
 * @example
 * const c = decodeCommit(await readFile(`${repo}/objects/ab/cdef….commit`));
 * new Date(c.timestamp * 1000); c.metadata.get('version')?.value;
 */
export interface Commit {
  /** Commit metadata (`ostree.ref-binding`, `version` ...); first entry wins for a repeated key. */
  metadata: Map<string, GVariantValue>;
  /** Parent commit checksum, or null for a commit without one. */
  parent: string | null;
  /** Related objects as [name, commit checksum]. */
  related: [string, string][];
  subject: string;
  body: string;
  /** Seconds since the epoch, UTC. */
  timestamp: number;
  /** Checksum of the root dirtree object. */
  rootContents: string;
  /** Checksum of the root dirmeta object. */
  rootMeta: string;
}

/**
 * A decoded dirtree object: the entries of one directory, files and subdirectories apart, each
 * sorted by name as OSTree writes them.
 *
 * @example
 * const t = decodeDirTree(bytes); t.files.map((f) => f.name);
 */
export interface DirTree {
  files: { name: string; checksum: string }[];
  /** `contents` is the subdirectory's dirtree checksum, `meta` its dirmeta checksum. */
  dirs: { name: string; contents: string; meta: string }[];
}

/**
 * A decoded dirmeta object: a directory's ownership, full st_mode (with S_IFDIR) and xattrs.
 *
 * @example
 * const m = decodeDirMeta(bytes); (m.mode & 0o7777).toString(8); // '755'
 */
export interface DirMeta {
  uid: number;
  gid: number;
  mode: number;
  /** [name, value], names with their trailing NUL as OSTree stores them. */
  xattrs: [Buffer, Buffer][];
}

/**
 * A decoded archive-mode (`.filez`) file header.
 *
 * @example
 * const { header } = splitArchiveFile(bytes); header.symlinkTarget || header.size;
 */
export interface FileHeader {
  /** Uncompressed content size in bytes. */
  size: number;
  uid: number;
  gid: number;
  /** Full st_mode, with the file type bits (S_IFREG, S_IFLNK). */
  mode: number;
  rdev: number;
  /** '' unless the file is a symlink. */
  symlinkTarget: string;
  xattrs: [Buffer, Buffer][];
}

function bad(what: string, why: string): OtaError {
  return new OtaError('ERR_OTA_OSTREE', `malformed OSTree ${what}: ${why}`, { hint: 'the repository object is corrupt; `ostree fsck` lists damaged objects' });
}

function swap32(n: number): number {
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;
}

function swap64(n: bigint): bigint {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64LE(n);
  return b.readBigUInt64BE();
}

/** A 32-byte SHA-256 `ay` as OSTree prints it. */
function checksum(what: string, field: string, v: unknown): string {
  const b = v as Buffer;
  if (b.length !== 32) throw bad(what, `${field} is ${b.length} bytes, a checksum is 32`);
  return b.toString('hex');
}

/**
 * ot_util_filename_validate: OSTree refuses these names when it writes a tree; refusing them
 * when reading keeps a crafted dirtree from pointing a checkout at `..` or a nested path.
 */
function filename(what: string, name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/')) throw bad(what, `invalid file name ${JSON.stringify(name)}`);
  return name;
}

/**
 * Decodes a `.commit` object.
 *
 * @throws OtaError `ERR_OTA_OSTREE` for malformed data or checksums that are not 32 bytes.
 * @example
 * const c = decodeCommit(await readFile(join(repo, 'objects', sum.slice(0, 2), `${sum.slice(2)}.commit`)));
 * console.log(c.subject, c.parent ?? '(no parent)', c.rootContents);
 */
export function decodeCommit(bytes: Uint8Array): Commit {
  const [metadata, parent, related, subject, body, timestamp, rootContents, rootMeta] = decodeVariant(COMMIT_TYPE, bytes) as [
    unknown, Buffer, [string, Buffer][], string, string, bigint, Buffer, Buffer,
  ];
  const what = 'commit';
  return {
    metadata: dict(metadata),
    // An empty `ay` is how OSTree says "no parent".
    parent: parent.length === 0 ? null : checksum(what, 'parent', parent),
    related: related.map(([name, sum]) => [name, checksum(what, `related ${name}`, sum)]),
    subject,
    body,
    timestamp: Number(swap64(timestamp)),
    rootContents: checksum(what, 'root dirtree', rootContents),
    rootMeta: checksum(what, 'root dirmeta', rootMeta),
  };
}

/**
 * Decodes a `.dirtree` object.
 *
 * @throws OtaError `ERR_OTA_OSTREE` for malformed data, bad checksums or invalid file names.
 * @example
 * for (const d of decodeDirTree(bytes).dirs) console.log(`${d.name}/`, d.contents);
 */
export function decodeDirTree(bytes: Uint8Array): DirTree {
  const [files, dirs] = decodeVariant(DIRTREE_TYPE, bytes) as [[string, Buffer][], [string, Buffer, Buffer][]];
  const what = 'dirtree';
  return {
    files: files.map(([name, sum]) => ({ name: filename(what, name), checksum: checksum(what, `file ${name}`, sum) })),
    dirs: dirs.map(([name, contents, meta]) => ({
      name: filename(what, name),
      contents: checksum(what, `dir ${name} contents`, contents),
      meta: checksum(what, `dir ${name} meta`, meta),
    })),
  };
}

/**
 * Decodes a `.dirmeta` object.
 *
 * @throws OtaError `ERR_OTA_OSTREE` for malformed data.
 * @example
 * const { uid, gid, mode } = decodeDirMeta(bytes); // 0, 0, 0o40755
 */
export function decodeDirMeta(bytes: Uint8Array): DirMeta {
  const [uid, gid, mode, xattrs] = decodeVariant(DIRMETA_TYPE, bytes) as [number, number, number, [Buffer, Buffer][]];
  return { uid: swap32(uid), gid: swap32(gid), mode: swap32(mode), xattrs };
}

/**
 * Decodes the GVariant part of an archive-mode file header, `(tuuuusa(ayay))`.
 *
 * @throws OtaError `ERR_OTA_OSTREE` for malformed data or a size beyond 2^53.
 * @example
 * decodeFileHeader(variantBytes).mode.toString(8); // '100644'
 */
export function decodeFileHeader(bytes: Uint8Array): FileHeader {
  const [size, uid, gid, mode, rdev, symlinkTarget, xattrs] = decodeVariant(FILE_HEADER_TYPE, bytes) as [
    bigint, number, number, number, number, string, [Buffer, Buffer][],
  ];
  const big = swap64(size);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('file header', `size ${big} is implausible`);
  return { size: Number(big), uid: swap32(uid), gid: swap32(gid), mode: swap32(mode), rdev: swap32(rdev), symlinkTarget, xattrs };
}

/**
 * Splits an archive-mode content object (`.filez`): a BE uint32 header length, 4 bytes of
 * padding (so the header stays 8-aligned), the header GVariant, then the content as raw deflate
 * (inflate it with `zlib.inflateRawSync`; symlinks have none).
 *
 * @throws OtaError `ERR_OTA_OSTREE` if the object is truncated or its header is malformed.
 * @example
 * const { header, compressed } = splitArchiveFile(await readFile(path));
 * const content = header.symlinkTarget ? null : inflateRawSync(compressed);
 */
export function splitArchiveFile(bytes: Uint8Array): { header: FileHeader; compressed: Buffer } {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8) throw bad('archive file object', `${buf.length} bytes is too short for a header`);
  const headerSize = buf.readUInt32BE(0);
  if (8 + headerSize > buf.length) throw bad('archive file object', `header of ${headerSize} bytes runs past the ${buf.length}-byte object`);
  return { header: decodeFileHeader(buf.subarray(8, 8 + headerSize)), compressed: buf.subarray(8 + headerSize) };
}

/**
 * Decodes an `a{sv}` metadata blob, e.g. a `.commitmeta` (detached metadata) file.
 *
 * @throws OtaError `ERR_OTA_OSTREE` for malformed data.
 * @example
 * const sigs = decodeMetadata(bytes).get('ostree.sign.ed25519')?.value as Buffer[] | undefined;
 */
export function decodeMetadata(bytes: Uint8Array): Map<string, GVariantValue> {
  return dict(decodeVariant(METADATA_TYPE, bytes));
}

/**
 * Encodes metadata as `a{sv}` in the record's key order (JS puts integer-like keys first), which
 * is what a `.commitmeta` file holds and `ostree_repo_write_commit_detached_metadata` takes.
 * Readers look keys up, so the order only matters for byte-for-byte reproducibility.
 *
 * @throws OtaError `ERR_OTA_OSTREE` if a value does not fit its declared type.
 * @example
 * await writeFile(commitmetaPath, encodeMetadata({
 *   'ostree.sign.ed25519': new GVariantValue('aay', [signature]),
 * }));
 */
export function encodeMetadata(entries: Record<string, GVariantValue>): Buffer {
  for (const [key, v] of Object.entries(entries)) {
    if (!(v instanceof GVariantValue)) throw new OtaError('ERR_OTA_OSTREE', `metadata '${key}' must be a GVariantValue, got ${typeof v}`);
  }
  return encodeVariant(METADATA_TYPE, Object.entries(entries));
}
