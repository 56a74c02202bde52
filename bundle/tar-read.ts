import type { FileHandle } from 'node:fs/promises';
import { OtaError } from '../common/errors.js';

/**
 * Reads the member table of an uncompressed ustar archive without extracting it: each member's
 * name, size and data offset. Bundles hold regular files only (docs/releases.md, "Bundles"), so
 * anything else, a bad header checksum, or an archive that ends early is refused by name.
 *
 * @example
 * const members = await listTarMembers(fh, 'update.otab');
 * const m = members.find((x) => x.name === 'manifest.jws');
 */
export interface TarMember {
  name: string;
  size: number;
  /** Byte offset of the member's data in the archive. */
  offset: number;
}

const BLOCK = 512;
/** A bundle has a header, a manifest, a superblock and parts: far fewer members than this. */
const MAX_MEMBERS = 100_000;

function invalid(file: string, why: string): OtaError {
  return new OtaError('ERR_OTA_BUNDLE', `${file} is not a valid bundle: ${why}`, { hint: 'copy the bundle again, or make it again with `ota bundle` (docs/releases.md, "Bundles")' });
}

function octal(field: Buffer): number {
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (!/^[0-7]+$/.test(text)) return NaN;
  return parseInt(text, 8);
}

function headerChecksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return octal(h.subarray(148, 156)) === sum;
}

function nameOf(h: Buffer): string {
  const cut = (b: Buffer): string => b.toString('utf8').replace(/\0.*$/s, '');
  const prefix = cut(h.subarray(345, 500));
  const name = cut(h.subarray(0, 100));
  return prefix ? `${prefix}/${name}` : name;
}

/** Lists the members of the archive open in `fh` (`file` names it in messages). */
export async function listTarMembers(fh: FileHandle, file: string): Promise<TarMember[]> {
  const { size: total } = await fh.stat();
  const members: TarMember[] = [];
  const h = Buffer.alloc(BLOCK);
  let pos = 0;
  for (;;) {
    if (pos + BLOCK > total) throw invalid(file, `truncated: it ends at byte ${total} before the end-of-archive marker`);
    await fh.read(h, 0, BLOCK, pos);
    if (h.every((b) => b === 0)) {
      await checkTrailer(fh, file, pos, total);
      return members;
    }
    if (!headerChecksumOk(h)) throw invalid(file, `bad tar header at byte ${pos}`);
    const name = nameOf(h);
    const type = String.fromCharCode(h[156]!);
    if (type !== '0' && type !== '\0') throw invalid(file, `member ${JSON.stringify(name)} is not a regular file`);
    const size = octal(h.subarray(124, 136));
    if (!Number.isSafeInteger(size)) throw invalid(file, `member ${JSON.stringify(name)} has no valid size`);
    if (members.some((m) => m.name === name)) throw invalid(file, `member ${JSON.stringify(name)} appears twice`);
    const offset = pos + BLOCK;
    if (offset + size > total) throw invalid(file, `truncated: member ${JSON.stringify(name)} needs ${size} bytes from byte ${offset}, the file ends at ${total}`);
    members.push({ name, size, offset });
    if (members.length > MAX_MEMBERS) throw invalid(file, `more than ${MAX_MEMBERS} members`);
    pos = offset + Math.ceil(size / BLOCK) * BLOCK;
  }
}

/** Zero blocks only after the end marker, at most a 10 KiB tar record's worth: anything else was appended to the bundle. */
async function checkTrailer(fh: FileHandle, file: string, pos: number, total: number): Promise<void> {
  const rest = total - pos;
  const junk = () => invalid(file, `data after the end-of-archive marker at byte ${pos} (the file goes on to byte ${total}): something was appended to it`);
  if (rest > 20 * BLOCK) throw junk();
  const tail = Buffer.alloc(rest);
  await fh.read(tail, 0, rest, pos);
  if (!tail.every((b) => b === 0)) throw junk();
}
