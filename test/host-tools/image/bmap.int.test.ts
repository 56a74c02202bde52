import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OtaEvent } from '../../../common/events.js';
import { run } from '../../../common/exec.js';
import { createBmap, formatBmap, parseBmap, readBmap, writeBmap } from '../../../host-tools/image/bmap.js';
import { IMAGE_SIZE, makeSparseImage, removeDir, tempDir, type SparseImage } from './sparse-image.js';

// Block maps of real sparse files, from the file system's extent map (filefrag), checked both
// ways against Debian's bmaptool 3.6: it copies with our .bmap, and we read the .bmap it makes.

let dir: string;
let img: SparseImage;

beforeAll(async () => {
  dir = await tempDir('ota-bmap-');
  img = await makeSparseImage(dir);
});
afterAll(() => removeDir(dir));

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('createBmap', () => {
  it('maps exactly the blocks that were written, with the SHA256 of each range', async () => {
    const b = await createBmap(img.path);
    expect(b).toMatchObject({ imageSize: IMAGE_SIZE, blockSize: 4096, blocksCount: 16384, mappedBlocksCount: img.mappedBytes / 4096 });
    expect(b.ranges).toEqual(img.ranges.map((r) => ({ ...r, sha256: sha(img.data.subarray(r.first * 4096, (r.last + 1) * 4096)) })));
  });

  it('counts preallocated (unwritten) extents as holes: they read as zeros', async () => {
    const { path: copy, ranges } = await makeSparseImage(dir, 'prealloc.img');
    await run('preallocate 1 MiB', ['fallocate', '--offset', String(20 << 20), '--length', String(1 << 20), copy]);
    const { stdout } = await run('look at the extents', ['filefrag', '-e', copy]);
    expect(stdout).toMatch(/unwritten/); // the case under test really is there
    expect((await createBmap(copy)).ranges.map(({ first, last }) => ({ first, last }))).toEqual(ranges);
  });

  it('maps nothing in an image that is all hole, and an empty image', async () => {
    const hole = path.join(dir, 'hole.img');
    await writeFile(hole, '');
    expect((await createBmap(hole)).ranges).toEqual([]);
    await run('make a 1 MiB hole', ['truncate', '-s', '1M', hole]);
    expect(await createBmap(hole)).toMatchObject({ blocksCount: 256, mappedBlocksCount: 0, ranges: [] });
  });

  it.skipIf(!existsSync('/dev/shm'))('maps all of an image on a file system without FIEMAP (tmpfs), with a warning', async () => {
    const shm = await mkdtemp('/dev/shm/ota-bmap-');
    try {
      const f = path.join(shm, 'img');
      await writeFile(f, Buffer.alloc(10_000, 1));
      const events: OtaEvent[] = [];
      const b = await createBmap(f, { onEvent: (e) => events.push(e) });
      expect(b.ranges).toEqual([{ first: 0, last: 2, sha256: sha(Buffer.alloc(10_000, 1)) }]);
      expect(events.filter((e) => e.level === 'warning').map((e) => e.message)).toEqual([expect.stringMatching(/cannot find the holes in .* lists the whole image/)]);
    } finally {
      await removeDir(shm);
    }
  });
});

describe('bmaptool (bmap-tools 3.6) and our .bmap', () => {
  it('writeBmap puts IMAGE.bmap next to the image, and readBmap reads it back', async () => {
    const b = await writeBmap(img.path);
    expect(await readBmap(`${img.path}.bmap`)).toEqual(b);
  });

  it("bmaptool copy accepts ours and copies only the mapped blocks, checking every range's checksum", async () => {
    const ours = path.join(dir, 'ours.bmap');
    await writeFile(ours, formatBmap(await createBmap(img.path)));
    const out = path.join(dir, 'bmaptool-copy.img');
    const { stderr } = await run('bmaptool copy', ['bmaptool', 'copy', '--bmap', ours, img.path, out]);
    expect(stderr).toMatch(/mapped 263 blocks/);
    expect((await readFile(out)).equals(img.data)).toBe(true);

    // It does check range checksums (so the copy above checked ours): a wrong one stops it.
    const text = await readFile(ours, 'utf8');
    const bad = text.replace(/chksum="([0-9a-f])/, (_, c: string) => `chksum="${c === '0' ? '1' : '0'}`);
    const zeroed = bad.replace(/<BmapFileChecksum> [0-9a-f]{64}/, `<BmapFileChecksum> ${'0'.repeat(64)}`);
    await writeFile(ours, zeroed.replace('0'.repeat(64), sha(Buffer.from(zeroed))));
    const r = await run('bmaptool copy with a wrong range checksum', ['bmaptool', 'copy', '--bmap', ours, img.path, out], { okCodes: [1] });
    expect(r.stderr).toMatch(/checksum mismatch for blocks range 0-256/);
  });

  it('we read the .bmap bmaptool create makes and find the same ranges and checksums', async () => {
    const { stdout } = await run('bmaptool create', ['bmaptool', 'create', img.path]);
    expect(parseBmap(stdout, 'bmaptool create')).toEqual(await createBmap(img.path));
  });

  it('the same holds for an image whose size is not a multiple of the block size', async () => {
    const { path: odd } = await makeSparseImage(dir, 'odd.img');
    await run('grow it by 1000 bytes', ['truncate', '-s', String(IMAGE_SIZE + 1000), odd]);
    const fh = await open(odd, 'r+');
    await fh.write(Buffer.alloc(500, 7), 0, 500, IMAGE_SIZE + 200); // data in the short last block
    await fh.close();
    const { stdout } = await run('bmaptool create', ['bmaptool', 'create', odd]);
    const ours = await createBmap(odd);
    expect(ours.blocksCount).toBe(16385);
    expect(ours.ranges.at(-1)).toMatchObject({ first: 16383, last: 16384 });
    expect(parseBmap(stdout, 'bmaptool create')).toEqual(ours);
  });
});
