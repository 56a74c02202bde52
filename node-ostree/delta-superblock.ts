import { createHash } from 'node:crypto';
import { OtaError } from '../common/errors.js';
import { decodeVariant, encodeVariant, GVariantValue } from './gvariant.js';

/**
 * An OSTree static delta's superblock read in TypeScript: what the delta holds, the commit it
 * carries and the size and SHA-256 of each part. `ota verify` and `ota bundle` check a delta's
 * files with it, and a device reads it to fetch the parts itself before it applies the delta
 * offline (docs/releases.md, "Deltas").
 *
 * @example
 * const sb = decodeSuperblock(await readFile(join(repoPath, staticDeltaPath(from, to), 'superblock')));
 */

const COMMIT_TYPE = '(a{sv}aya(say)sstayay)';

/** ostree's OSTREE_STATIC_DELTA_SUPERBLOCK_FORMAT. */
const SUPERBLOCK_TYPE = '(a{sv}tayay(a{sv}aya(say)sstayay)aya(uayttay)a(yaytt))';

export interface DeltaPart {
  index: number;
  /** SHA-256 of the part file as stored (compression byte included). */
  checksum: string;
  compressedBytes: number;
  uncompressedBytes: number;
}

export interface DeltaFallback {
  /** OSTree object type: 1 file, 2 dirtree, 3 dirmeta, 4 commit. */
  objectType: number;
  checksum: string;
}

export interface Superblock {
  /** The commit the delta starts from; null for a delta "from scratch". */
  from: string | null;
  to: string;
  /** The serialized to-commit object the superblock carries; its SHA-256 is `to`. */
  commitObject: Buffer;
  parts: DeltaPart[];
  fallbacks: DeltaFallback[];
  /** The to-commit's detached metadata (its signatures) when the delta carries it. */
  commitmeta: Buffer | undefined;
}

function hex(what: string, b: Buffer): string {
  if (b.length !== 32) throw bad(`${what} is ${b.length} bytes, a checksum is 32`);
  return b.toString('hex');
}

function bad(why: string): OtaError {
  return new OtaError('ERR_OTA_HASH', `malformed static delta superblock: ${why}`, { hint: 'the delta is damaged or not a delta; generate it again from the repository' });
}

type RawMeta = [number, Buffer, bigint, bigint, Buffer];

/**
 * Decodes a superblock. Sizes are stored in the byte order the `ostree.endianness` key names
 * (big-endian when it is absent, as older ostree wrote them).
 *
 * @throws OtaError `ERR_OTA_HASH` (or `ERR_OTA_OSTREE` from the GVariant decoder) for malformed bytes.
 */
export function decodeSuperblock(bytes: Buffer): Superblock {
  const [meta, , from, to, commit, , entries, fallbacks] = decodeVariant(SUPERBLOCK_TYPE, bytes) as [
    [string, GVariantValue][], bigint, Buffer, Buffer, unknown, Buffer, RawMeta[], [number, Buffer, bigint, bigint][],
  ];
  const endianness = meta.find(([k]) => k === 'ostree.endianness')?.[1].value;
  const little = endianness === 'l'.charCodeAt(0);
  const size = (n: bigint): number => Number(little ? n : swap64(n));
  const commitmeta = meta.find(([k]) => k.endsWith('/commitmeta'))?.[1];
  const toSum = hex('the to-commit', to);
  // GLib serialises in normal form, so re-encoding the decoded commit gives the stored bytes back.
  const commitObject = encodeVariant(COMMIT_TYPE, commit);
  if (sha256(commitObject) !== toSum) throw bad(`the commit it carries does not hash to ${toSum}`);
  return {
    from: from.length === 0 ? null : hex('the from-commit', from),
    to: toSum,
    commitObject,
    parts: entries.map(([, sum, compressed, uncompressed], index) => ({ index, checksum: hex(`part ${index}'s checksum`, sum), compressedBytes: size(compressed), uncompressedBytes: size(uncompressed) })),
    fallbacks: fallbacks.map(([objectType, sum]) => ({ objectType, checksum: hex('a fallback object', sum) })),
    commitmeta: commitmeta instanceof GVariantValue && commitmeta.type === 'a{sv}' ? encodeVariant('a{sv}', commitmeta.value) : undefined,
  };
}

function swap64(n: bigint): bigint {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64LE(n);
  return b.readBigUInt64BE();
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
