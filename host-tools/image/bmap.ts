/**
 * Block maps of sparse disk images: which 4096-byte blocks hold data, so a flasher writes those
 * and skips the holes. The file format is bmaptool's (bmap 2.0, Debian's bmap-tools 3.6), so
 * `bmaptool copy` can use our .bmap and `ota flash` can use one made by `bmaptool create`.
 *
 * The data ranges come from the file system's extent map (`filefrag -e`, FIEMAP), not from reading
 * the image: reading a 4 GiB image to find its 300 MiB of data would cost more than the write.
 * Only the mapped ranges are read, to checksum them.
 *
 * @example
 * const bmap = await writeBmap('disk.img'); // disk.img.bmap
 * const again = await readBmap('disk.img.bmap');
 */
import { createHash } from 'node:crypto';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { OtaError } from '../../common/errors.js';
import { silent, type EventSink } from '../../common/events.js';
import { run } from '../../common/exec.js';
import { fsReason } from '../../common/fs-errors.js';

/** bmaptool's block size; filefrag extents are rounded out to it. */
export const BMAP_BLOCK_SIZE = 4096;

/** Blocks `first` to `last`, both included (bmaptool's convention), and the SHA256 of their bytes when known. */
export interface BmapRange {
  first: number;
  last: number;
  sha256?: string;
}

/** A parsed or computed block map. `ranges` are sorted and do not overlap. */
export interface Bmap {
  imageSize: number;
  blockSize: number;
  blocksCount: number;
  mappedBlocksCount: number;
  ranges: BmapRange[];
}

/** Bytes `start` (included) to `end` (excluded) of a file. */
export interface ByteExtent {
  start: number;
  end: number;
}

const REGEN_HINT = 'make a new one from the image (`bmaptool create IMAGE -o IMAGE.bmap`), or flash without a bmap to write the whole image';

/**
 * The bytes a range covers; the last block of an image whose size is not a multiple of the block
 * size is short, and its checksum covers only the bytes in the image (as bmaptool's does).
 *
 * @example
 * rangeExtent(bmap, { first: 2, last: 3 }); // { start: 8192, end: 16384 }
 */
export function rangeExtent(bmap: Pick<Bmap, 'blockSize' | 'imageSize'>, r: BmapRange): ByteExtent {
  return { start: r.first * bmap.blockSize, end: Math.min((r.last + 1) * bmap.blockSize, bmap.imageSize) };
}

/**
 * Data extents from `filefrag -e` output, in bytes, sorted and merged, clipped to the image size.
 * Unwritten (preallocated) extents read as zeros, like holes, so they count as holes. Output
 * without extent lines (a fully sparse or empty file) gives no extents.
 *
 * @example
 * parseFilefrag(stdout, 67108864); // [{ start: 40960, end: 53248 }, ...]
 */
export function parseFilefrag(output: string, imageSize: number): ByteExtent[] {
  const unit = /\(\d+ blocks? of (\d+) bytes\)\s*$/m.exec(output);
  if (!unit) {
    throw new OtaError('ERR_OTA_EXEC', 'cannot read the output of `filefrag -e`: no "blocks of N bytes" line', {
      details: output.trim().split('\n').slice(0, 5),
    });
  }
  const blockBytes = Number(unit[1]);
  const extents: ByteExtent[] = [];
  for (const line of output.split('\n')) {
    const m = /^\s*\d+:\s*(\d+)\.\.\s*(\d+):/.exec(line);
    if (!m) continue;
    // Flags are the text after the last colon: "last,unwritten,eof"; empty for most extents.
    const flags = (line.slice(line.lastIndexOf(':') + 1)).split(',').map((f) => f.trim());
    if (flags.includes('unwritten')) continue;
    const start = Number(m[1]) * blockBytes;
    const end = Math.min((Number(m[2]) + 1) * blockBytes, imageSize);
    if (start < end) extents.push({ start, end });
  }
  extents.sort((a, b) => a.start - b.start);
  const merged: ByteExtent[] = [];
  for (const e of extents) {
    const prev = merged.at(-1);
    if (prev && e.start <= prev.end) prev.end = Math.max(prev.end, e.end);
    else merged.push({ ...e });
  }
  return merged;
}

/**
 * Byte extents rounded out to whole blocks; extents that share or touch a block become one range.
 *
 * @example
 * blockRanges([{ start: 1024, end: 2048 }, { start: 4096, end: 4097 }]); // [{ first: 0, last: 1 }]
 */
export function blockRanges(extents: ByteExtent[], blockSize = BMAP_BLOCK_SIZE): BmapRange[] {
  const out: BmapRange[] = [];
  for (const e of extents) {
    const first = Math.floor(e.start / blockSize);
    const last = Math.floor((e.end - 1) / blockSize);
    const prev = out.at(-1);
    if (prev && first <= prev.last + 1) prev.last = Math.max(prev.last, last);
    else out.push({ first, last });
  }
  return out;
}

/**
 * SHA256 (hex) of bytes `start` to `end` of an open file; `null` if the file ends first.
 *
 * @example
 * const hex = await hashRange(fh, { start: 0, end: 4096 });
 */
export async function hashRange(fh: FileHandle, e: ByteExtent, buf = Buffer.allocUnsafe(8 << 20)): Promise<string | null> {
  const hash = createHash('sha256');
  for (let pos = e.start; pos < e.end; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, e.end - pos), pos);
    if (bytesRead === 0) return null;
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return hash.digest('hex');
}

/**
 * Maps an image's data with filefrag and checksums each range. Where filefrag cannot map the file
 * (tmpfs has no FIEMAP) the whole image counts as data, with a warning: slower, never wrong.
 *
 * @example
 * const bmap = await createBmap('disk.img', { onEvent: reporter.event });
 */
export async function createBmap(imagePath: string, options: { onEvent?: EventSink } = {}): Promise<Bmap> {
  const onEvent = options.onEvent ?? silent;
  const imageSize = (await stat(imagePath)).size;
  let extents: ByteExtent[] = [];
  if (imageSize > 0) {
    try {
      // -s syncs first: data still in the page cache has no extent yet. LC_ALL=C keeps the words we parse.
      const { stdout } = await run(`map the data in ${imagePath}`, ['filefrag', '-s', '-e', imagePath], { env: { ...process.env, LC_ALL: 'C' } });
      extents = parseFilefrag(stdout, imageSize);
    } catch (e) {
      if (!(e instanceof OtaError) || e.code !== 'ERR_OTA_EXEC') throw e;
      onEvent({ phase: 'bmap', target: imagePath, level: 'warning', message: `cannot find the holes in ${imagePath}, so the block map lists the whole image (${e.message})` });
      extents = [{ start: 0, end: imageSize }];
    }
  }
  const bmap: Bmap = { imageSize, blockSize: BMAP_BLOCK_SIZE, blocksCount: Math.ceil(imageSize / BMAP_BLOCK_SIZE), mappedBlocksCount: 0, ranges: blockRanges(extents) };
  const fh = await open(imagePath, 'r');
  try {
    const buf = Buffer.allocUnsafe(8 << 20);
    for (const [i, r] of bmap.ranges.entries()) {
      const digest = await hashRange(fh, rangeExtent(bmap, r), buf);
      if (digest === null) throw new OtaError('ERR_OTA_IO', `${imagePath} shrank while its block map was made`, { hint: 'make the block map after the image is complete' });
      r.sha256 = digest;
      bmap.mappedBlocksCount += r.last - r.first + 1;
      onEvent({ phase: 'bmap', target: imagePath, message: `checksumming ${imagePath}`, current: i + 1, total: bmap.ranges.length });
    }
  } finally {
    await fh.close();
  }
  return bmap;
}

/**
 * The bmap 2.0 XML text, with its BmapFileChecksum: the SHA256 of the text with the checksum
 * written as 64 zeros, which is how bmaptool checks it.
 *
 * @example
 * await writeFile('disk.img.bmap', formatBmap(bmap));
 */
export function formatBmap(bmap: Bmap): string {
  const zeros = '0'.repeat(64);
  const lines = [
    '<?xml version="1.0" ?>',
    '<!-- Block map of a disk image: the blocks that hold data. Written by ota (deb-ota) in',
    '     bmaptool\'s format, so `bmaptool copy` can use it. -->',
    '<bmap version="2.0">',
    `    <ImageSize> ${bmap.imageSize} </ImageSize>`,
    `    <BlockSize> ${bmap.blockSize} </BlockSize>`,
    `    <BlocksCount> ${bmap.blocksCount} </BlocksCount>`,
    `    <MappedBlocksCount> ${bmap.mappedBlocksCount} </MappedBlocksCount>`,
    '    <ChecksumType> sha256 </ChecksumType>',
    `    <BmapFileChecksum> ${zeros} </BmapFileChecksum>`,
    '    <BlockMap>',
    ...bmap.ranges.map((r) => {
      const attr = r.sha256 ? ` chksum="${r.sha256}"` : '';
      return `        <Range${attr}> ${r.first === r.last ? r.first : `${r.first}-${r.last}`} </Range>`;
    }),
    '    </BlockMap>',
    '</bmap>',
    '',
  ];
  const text = lines.join('\n');
  return text.replace(zeros, createHash('sha256').update(text).digest('hex'));
}

/**
 * Parses and checks a .bmap file: format version, BmapFileChecksum, counts that agree with the
 * image size, ranges in order and inside the image. Errors name the file and the line.
 *
 * @example
 * const bmap = parseBmap(await readFile('disk.img.bmap', 'utf8'), 'disk.img.bmap');
 */
export function parseBmap(text: string, source = 'bmap'): Bmap {
  const fail = (what: string, hint = REGEN_HINT): OtaError => new OtaError('ERR_OTA_BMAP', `${what} (${source})`, { hint });
  // Blank out comments but keep their newlines, so offsets still give line numbers.
  const body = text.replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, ' '));
  const lineAt = (index: number): number => body.slice(0, index).split('\n').length;
  const root = /<bmap\s+version\s*=\s*"(\d+)\.(\d+)"\s*>/.exec(body);
  if (!root || !body.includes('</bmap>')) throw fail('not a bmap file: no <bmap version="..."> element');
  // Format 1.4 is 2.0 under an older number (bmaptool's BmapCopy says so); 1.0-1.3 used SHA1 and other tags.
  if (!(root[1] === '2' || (root[1] === '1' && root[2] === '4'))) {
    throw fail(`bmap format version ${root[1]}.${root[2]} is not supported; ota reads version 2`);
  }
  const field = (tag: string): { value: string; index: number } => {
    const all = [...body.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))];
    const [only] = all;
    if (all.length !== 1 || !only) throw fail(`expected one <${tag}> element, found ${all.length}`);
    return { value: (only[1] ?? '').trim(), index: only.index };
  };
  const count = (tag: string): number => {
    const { value, index } = field(tag);
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw fail(`<${tag}> must be a whole number, got "${value}" (line ${lineAt(index)})`);
    return n;
  };
  const bmap: Bmap = { imageSize: count('ImageSize'), blockSize: count('BlockSize'), blocksCount: count('BlocksCount'), mappedBlocksCount: count('MappedBlocksCount'), ranges: [] };
  const type = field('ChecksumType').value;
  if (type !== 'sha256') throw fail(`checksum type "${type}" is not supported; ota reads sha256 block maps`);
  const fileSum = field('BmapFileChecksum');
  if (!/^[0-9a-f]{64}$/.test(fileSum.value)) throw fail(`<BmapFileChecksum> is not a SHA256, got "${fileSum.value}"`);
  const at = text.indexOf(fileSum.value, fileSum.index);
  const zeroed = text.slice(0, at) + '0'.repeat(64) + text.slice(at + 64);
  const actual = createHash('sha256').update(zeroed).digest('hex');
  if (actual !== fileSum.value) throw fail(`the file was changed after it was written: its checksum is ${actual}, <BmapFileChecksum> says ${fileSum.value}`);

  if (bmap.blockSize === 0) throw fail('<BlockSize> is 0');
  if (bmap.blocksCount !== Math.ceil(bmap.imageSize / bmap.blockSize)) {
    throw fail(`<BlocksCount> ${bmap.blocksCount} does not fit <ImageSize> ${bmap.imageSize} in blocks of ${bmap.blockSize} bytes (expected ${Math.ceil(bmap.imageSize / bmap.blockSize)})`);
  }
  const blockMap = /<BlockMap>([\s\S]*?)<\/BlockMap>/.exec(body);
  if (!blockMap) throw fail('no <BlockMap> element');
  const rangeRe = /<Range\b([^>]*)>([^<]*)<\/Range>/g;
  const stray = (blockMap[1] ?? '').replace(rangeRe, '').trim();
  if (stray) throw fail(`unexpected content in <BlockMap>: "${stray.slice(0, 60)}"`);
  let mapped = 0;
  for (const m of (blockMap[1] ?? '').matchAll(rangeRe)) {
    const where = (): string => `line ${lineAt(blockMap.index + '<BlockMap>'.length + m.index)}`; // only on error: it is O(size)
    const attrs = (m[1] ?? '').trim();
    const sum = /^chksum\s*=\s*"([^"]*)"$/.exec(attrs)?.[1];
    if (attrs && sum === undefined) throw fail(`<Range> has unknown attributes "${attrs}" (${where()})`);
    if (sum !== undefined && !/^[0-9a-f]{64}$/.test(sum)) throw fail(`<Range> chksum is not a SHA256: "${sum}" (${where()})`);
    const span = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(m[2] ?? '');
    if (!span) throw fail(`<Range> must hold "first-last" or one block number, got "${(m[2] ?? '').trim()}" (${where()})`);
    const first = Number(span[1]);
    const last = Number(span[2] ?? span[1]);
    const prev = bmap.ranges.at(-1);
    if (last < first) throw fail(`<Range> ${first}-${last} ends before it starts (${where()})`);
    if (last >= bmap.blocksCount) throw fail(`<Range> ${first}-${last} goes past the image, which has ${bmap.blocksCount} blocks (${where()})`);
    if (prev && first <= prev.last) throw fail(`<Range> ${first}-${last} overlaps or comes before ${prev.first}-${prev.last} (${where()})`);
    bmap.ranges.push(sum === undefined ? { first, last } : { first, last, sha256: sum });
    mapped += last - first + 1;
  }
  if (mapped !== bmap.mappedBlocksCount) throw fail(`<MappedBlocksCount> says ${bmap.mappedBlocksCount} blocks, the ranges hold ${mapped}`);
  return bmap;
}

/**
 * Reads and checks a .bmap file; a missing or malformed file is an OtaError naming it.
 *
 * @example
 * const bmap = await readBmap('disk.img.bmap');
 */
export async function readBmap(path: string): Promise<Bmap> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new OtaError('ERR_OTA_BMAP', `cannot read the block map ${path}: ${fsReason(e)}`, { hint: REGEN_HINT, cause: e });
  }
  return parseBmap(text, path);
}

/**
 * Maps an image and writes its .bmap atomically next to it (or to `bmapPath`).
 *
 * @example
 * await writeBmap('out/disk.img'); // out/disk.img.bmap
 */
export async function writeBmap(imagePath: string, bmapPath = `${imagePath}.bmap`, options: { onEvent?: EventSink } = {}): Promise<Bmap> {
  const bmap = await createBmap(imagePath, options);
  await writeFileAtomic(bmapPath, formatBmap(bmap));
  return bmap;
}
