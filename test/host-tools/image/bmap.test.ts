import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { blockRanges, formatBmap, parseBmap, parseFilefrag, type Bmap } from '../../../host-tools/image/bmap.js';
import { rejectionOf } from '../../helpers/errors.js';

// The .bmap codec and the filefrag parser, on text: bmaptool's own output (fixtures/bmaptool-3.6.bmap,
// made by `bmaptool create` from the image `detImage()` rebuilds) and filefrag output captured on ext4.

/** The image behind fixtures/bmaptool-3.6.bmap: 1,000,000 bytes (a short last block), four data regions. */
function detImage(): Buffer {
  const img = Buffer.alloc(1_000_000);
  for (const [off, n, seed] of [[0, 9000, 1], [40960, 1, 2], [409600, 8192, 3], [1_000_000 - 100, 100, 4]] as const) {
    for (let i = 0; i < n; i++) img[off + i] = (i * 7 + seed) & 0xff;
  }
  return img;
}
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function bmapOf(over: Partial<Bmap> = {}): Bmap {
  return { imageSize: 65536, blockSize: 4096, blocksCount: 16, mappedBlocksCount: 4, ranges: [{ first: 0, last: 2, sha256: 'a'.repeat(64) }, { first: 9, last: 9, sha256: 'b'.repeat(64) }], ...over };
}

function parseError(text: string): Promise<OtaError> {
  return rejectionOf(OtaError, () => parseBmap(text, 'x.bmap'));
}

describe('parseBmap', () => {
  it("reads bmaptool's own file: counts, single-block ranges, and range checksums over the short last block", async () => {
    const text = await readFile(new URL('fixtures/bmaptool-3.6.bmap', import.meta.url), 'utf8');
    const b = parseBmap(text, 'bmaptool-3.6.bmap');
    const img = detImage();
    const ranges = [[0, 2], [10, 10], [100, 101], [244, 244]] as const;
    expect(b).toMatchObject({ imageSize: 1_000_000, blockSize: 4096, blocksCount: 245, mappedBlocksCount: 7 });
    expect(b.ranges).toEqual(ranges.map(([first, last]) => ({ first, last, sha256: sha(img.subarray(first * 4096, Math.min((last + 1) * 4096, img.length))) })));
  });

  it('round-trips what formatBmap writes, with or without range checksums', () => {
    const b = bmapOf({ ranges: [{ first: 0, last: 2, sha256: 'a'.repeat(64) }, { first: 9, last: 9 }] });
    const text = formatBmap(b);
    expect(text).toContain('<Range> 9 </Range>');
    expect(parseBmap(text)).toEqual(b);
    expect(parseBmap(formatBmap(bmapOf({ imageSize: 0, blocksCount: 0, mappedBlocksCount: 0, ranges: [] }))).ranges).toEqual([]);
  });

  it('rejects a file changed after it was written, by its BmapFileChecksum', async () => {
    const text = formatBmap(bmapOf()).replace('> 9 <', '> 8 <');
    const e = await parseError(text);
    expect(e.code).toBe('ERR_OTA_BMAP');
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/changed after it was written.*\(x\.bmap\)$/);
    expect(e.hint).toMatch(/bmaptool create/);
  });

  it.each<[string, Partial<Bmap>, RegExp]>([
    ['a range past the image', { ranges: [{ first: 0, last: 2 }, { first: 15, last: 16 }], mappedBlocksCount: 5 }, /15-16 goes past the image, which has 16 blocks \(line 13\)/],
    ['overlapping ranges', { ranges: [{ first: 0, last: 2 }, { first: 2, last: 2 }], mappedBlocksCount: 4 }, /2-2 overlaps or comes before 0-2/],
    ['ranges out of order', { ranges: [{ first: 9, last: 9 }, { first: 0, last: 2 }], mappedBlocksCount: 4 }, /0-2 overlaps or comes before 9-9/],
    ['a wrong mapped count', { mappedBlocksCount: 5 }, /<MappedBlocksCount> says 5 blocks, the ranges hold 4/],
    ['a block count that does not fit the size', { blocksCount: 17 }, /<BlocksCount> 17 does not fit <ImageSize> 65536 .*expected 16/],
    ['a range that ends before it starts', { ranges: [{ first: 3, last: 1 }], mappedBlocksCount: 0 }, /3-1 ends before it starts/],
  ])('rejects %s', async (_, over, message) => {
    expect((await parseError(formatBmap(bmapOf(over)))).message).toMatch(message);
  });

  // Edits that keep the file checksum right, so the structural checks are what fails.
  const resign = (text: string): string => {
    const zeroed = text.replace(/<BmapFileChecksum> [0-9a-f]{64}/, `<BmapFileChecksum> ${'0'.repeat(64)}`);
    return zeroed.replace('0'.repeat(64), sha(Buffer.from(zeroed)));
  };
  it.each<[string, (t: string) => string, RegExp]>([
    ['another format version', (t) => t.replace('version="2.0"', 'version="1.3"'), /format version 1\.3 is not supported/],
    ['SHA1 checksums', (t) => t.replace('> sha256 <', '> sha1 <'), /checksum type "sha1" is not supported/],
    ['a missing element', (t) => t.replace(/ *<BlockSize>.*\n/, ''), /expected one <BlockSize> element, found 0/],
    ['a count that is not a number', (t) => t.replace('<ImageSize> 65536', '<ImageSize> 64k'), /<ImageSize> must be a whole number, got "64k" \(line 5\)/],
    ['stray content in the block map', (t) => t.replace('<BlockMap>', '<BlockMap><Foo/>'), /unexpected content in <BlockMap>: "<Foo\/>"/],
    ['a range checksum that is not SHA256', (t) => t.replace(`chksum="${'a'.repeat(64)}"`, 'chksum="abc"'), /chksum is not a SHA256: "abc" \(line 12\)/],
    ['unknown range attributes', (t) => t.replace('<Range chksum', '<Range sha1="x" chksum'), /unknown attributes/],
    ['a range that is not numbers', (t) => t.replace('> 9 <', '> 9-x <'), /must hold "first-last" or one block number, got "9-x"/],
    ['text that is not a bmap', () => '<foo/>', /not a bmap file/],
  ])('rejects %s', async (_, edit, message) => {
    expect((await parseError(resign(edit(formatBmap(bmapOf())))))).toMatchObject({ code: 'ERR_OTA_BMAP', message: expect.stringMatching(message) });
  });

  it('accepts format 1.4, which is 2.0 under its old number', () => {
    expect(parseBmap(resign(formatBmap(bmapOf()).replace('version="2.0"', 'version="1.4"'))).ranges).toHaveLength(2);
  });
});

describe('parseFilefrag', () => {
  const ext4 = `Filesystem type is: ef53
File size of img is 67108864 (16384 blocks of 4096 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
   0:       10..      12:   13897738..  13897740:      3:         10:
   1:     2048..    2303:   13897984..  13898239:    256:   13899776: unwritten
   2:     4882..    4883:   13900562..  13900563:      2:   13900818: last
img: 3 extents found
`;

  it('reads extents in bytes and counts unwritten (preallocated) ones as holes', () => {
    expect(parseFilefrag(ext4, 67108864)).toEqual([{ start: 40960, end: 53248 }, { start: 19996672, end: 20004864 }]);
  });

  it('merges touching extents, clips to the image size, and converts 1024-byte units', () => {
    const out = `File size of det is 1000000 (980 blocks of 1024 bytes)
 ext:     logical_offset:        physical_offset: length:   expected: flags:
   0:      976..     979:   56499152..  56499155:      4:             last,eof
   1:        0..      11:   56498176..  56498187:     12:            
   2:       12..      13:   56498216..  56498219:      2:    56498188:
   3:      400..     407:   56498576..  56498583:      8:            
`;
    expect(parseFilefrag(out, 1_000_000)).toEqual([{ start: 0, end: 14336 }, { start: 409600, end: 417792 }, { start: 999424, end: 1_000_000 }]);
  });

  it('gives no extents for a file without any (all hole)', () => {
    expect(parseFilefrag('Filesystem type is: ef53\nFile size of e is 1048576 (256 blocks of 4096 bytes)\ne: 0 extents found\n', 1048576)).toEqual([]);
  });

  it('fails on output it does not understand, so the caller falls back to the whole image', async () => {
    expect((await rejectionOf(OtaError, () => parseFilefrag('e: FIBMAP/FIEMAP unsupported\n', 10))).code).toBe('ERR_OTA_EXEC');
  });
});

describe('blockRanges', () => {
  it('rounds extents out to 4096-byte blocks and joins those that share or touch a block', () => {
    const r = blockRanges([{ start: 1024, end: 2048 }, { start: 3072, end: 4097 }, { start: 8192, end: 12288 }, { start: 20480, end: 20481 }]);
    expect(r).toEqual([{ first: 0, last: 2 }, { first: 5, last: 5 }]);
  });
});
