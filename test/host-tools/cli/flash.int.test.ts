import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBmap } from '../../../host-tools/image/bmap.js';
import { ota } from '../../helpers/cli.js';
import { makeSparseImage, removeDir, tempDir, type SparseImage } from '../image/sparse-image.js';

// `ota flash` through the CLI's main(): the summary line, progress on stderr, and the exit codes
// and messages of a refusal (1) and a broken block map (2). Targets are regular files.

let dir: string;
let img: SparseImage;

beforeAll(async () => {
  dir = await tempDir('ota-cli-flash-');
  img = await makeSparseImage(dir);
  await writeBmap(img.path);
});
afterAll(() => removeDir(dir));


describe('ota flash', () => {
  it('writes the mapped blocks, verifies, and prints one summary line', async () => {
    const target = path.join(dir, 'out.img');
    await writeFile(target, '');
    const r = await ota('flash', img.path, '--device', target);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([expect.stringMatching(new RegExp(`^${img.path} -> ${target}: wrote 1\\.0 MiB, skipped 63\\.0 MiB of holes in \\d+\\.\\ds, verified$`))]);
    expect(r.err).toMatch(/^flash \[1077248\/1077248\]: writing .*\(1\.0 MiB\)\nverify \[\d+\/1077248\]: reading back /m);
    expect((await readFile(target)).equals(img.data)).toBe(true);
  });

  it('--json: one document on stdout with the byte counts, progress on stderr', async () => {
    const target = path.join(dir, 'json.img');
    await writeFile(target, '');
    const r = await ota('flash', img.path, '--device', target, '--json');
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(1);
    expect(JSON.parse(r.out[0]!)).toEqual({
      image: img.path, device: target, bmapPath: `${img.path}.bmap`, imageSize: img.data.length,
      writtenBytes: 1077248, skippedBytes: img.data.length - 1077248, verified: true, seconds: expect.any(Number), overridden: [],
    });
    expect(r.err).toMatch(/^flash \[1077248\/1077248\]/m);
  });

  it('says "not verified" with --no-verify, and what --force overrode', async () => {
    const target = path.join(dir, 'forced.img');
    const r = await ota('flash', img.path, '--device', target, '--no-verify', '--force', '-q');
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/, not verified \(forced past: missing\)$/);
    expect(r.err).toBe(`warning: --force: writing although ${target} does not exist\n`);
  });

  it('refuses a missing device with exit 2 (bad input), the check that stopped it, and how to override it', async () => {
    const target = path.join(dir, 'sdz');
    const r = await ota('flash', img.path, '--device', target);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error: refusing to write ${target}: ${target} does not exist\nhint: check the device name (\`lsblk\` lists disks); --force writes a new regular file there\n`);
    expect(r.out).toEqual([]);
  });

  it('exits 2 on a bmap that is not one', async () => {
    const bad = path.join(dir, 'bad.bmap');
    await writeFile(bad, '<bmap version="2.0"></bmap>');
    const r = await ota('flash', img.path, '--device', path.join(dir, 'x.img'), '--bmap', bad);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error: expected one <ImageSize> element, found 0 \(.*bad\.bmap\)$/m);
  });
});
