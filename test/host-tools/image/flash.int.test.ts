import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { DeviceEvent, OtaEvent } from '../../../common/events.js';
import { run } from '../../../common/exec.js';
import { createBmap, formatBmap, readBmap, writeBmap } from '../../../host-tools/image/bmap.js';
import { flash, verifyTarget } from '../../../host-tools/image/flash.js';
import { describeTarget, planTargetChecks, readSystemState } from '../../../host-tools/image/flash-target.js';
import { otaRejection } from '../../helpers/errors.js';
import { attachLoop, detachLoop, IMAGE_SIZE, loopDevicesWork, makeSparseImage, removeDir, tempDir, type SparseImage } from './sparse-image.js';

// `flash` on real sparse files and, where this machine allows, real loop devices: what lands on the
// target, how many bytes were written (holes are not), verification against the bmap, and the
// checks that stop it. Loop devices are backed by files in the test's temp dir.

const loops = await loopDevicesWork();
let dir: string;
let img: SparseImage;

beforeAll(async () => {
  dir = await tempDir('ota-flash-');
  img = await makeSparseImage(dir);
  await writeBmap(img.path);
});
afterAll(() => removeDir(dir));

/** Flips one byte of a file in place. */
async function flipByte(file: string, offset: number): Promise<void> {
  const fh = await open(file, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, offset);
  b[0] = (b[0] ?? 0) ^ 0xff;
  await fh.write(b, 0, 1, offset);
  await fh.sync();
  await fh.close();
}

describe('flash to a regular file', () => {
  it('writes only the mapped blocks, leaves holes as holes, and verifies', async () => {
    const target = path.join(dir, 'out.img');
    await writeFile(target, Buffer.alloc(IMAGE_SIZE + 4096, 0x55)); // old bytes, in the holes too and past the end
    const events: OtaEvent[] = [];
    const r = await flash({ image: img.path, device: target, onEvent: (e) => events.push(e), chunkBytes: 4096 });
    expect(r).toMatchObject({ bmapPath: `${img.path}.bmap`, imageSize: IMAGE_SIZE, writtenBytes: img.mappedBytes, skippedBytes: IMAGE_SIZE - img.mappedBytes, verified: true, overridden: [] });
    expect((await readFile(target)).equals(img.data)).toBe(true);
    // The holes were skipped, not written as zeros: the file has about as many blocks as were written.
    expect((await stat(target)).blocks * 512).toBeLessThan(img.mappedBytes + (256 << 10));
    const writes = events.filter((e): e is DeviceEvent => e.phase === 'flash');
    expect(writes.at(-1)).toMatchObject({ current: img.mappedBytes, total: img.mappedBytes });
    expect(writes.map((e) => e.current)).toEqual([...writes.map((e) => e.current)].sort((a, b) => (a ?? 0) - (b ?? 0)));
    expect(writes.length).toBeLessThanOrEqual(101); // 263 one-block writes, but events at most every 1%
    expect(events.filter((e) => e.phase === 'verify').at(-1)).toMatchObject({ current: img.mappedBytes, total: img.mappedBytes });
  });

  it('writes the whole image when there is no bmap', async () => {
    const target = path.join(dir, 'whole.img');
    await writeFile(target, '');
    const r = await flash({ image: img.path, device: target, bmap: false });
    expect(r).toMatchObject({ bmapPath: null, writtenBytes: IMAGE_SIZE, skippedBytes: 0, verified: true });
    expect((await readFile(target)).equals(img.data)).toBe(true);
  });

  it('refuses a target that does not exist unless forced, then creates it', async () => {
    const target = path.join(dir, 'new.img');
    const e = await otaRejection(flash({ image: img.path, device: target }));
    expect(e).toMatchObject({ code: 'ERR_OTA_FLASH', message: `refusing to write ${target}: ${target} does not exist`, hint: expect.stringMatching(/--force/) });
    await expect(stat(target)).rejects.toThrow(/ENOENT/);
    const r = await flash({ image: img.path, device: target, force: true });
    expect(r.overridden.map((c) => c.check)).toEqual(['missing']);
    expect((await readFile(target)).equals(img.data)).toBe(true);
  });

  it('verification finds a range that differs on the target', async () => {
    const target = path.join(dir, 'corrupt.img');
    await writeFile(target, '');
    expect((await flash({ image: img.path, device: target, verify: false })).verified).toBe(false);
    const bmap = await readBmap(`${img.path}.bmap`);
    await expect(verifyTarget(target, bmap)).resolves.toEqual({ verifiedBytes: img.mappedBytes });
    await flipByte(target, (10 << 20) + 5000);
    const e = await otaRejection(verifyTarget(target, bmap));
    expect(e.message).toBe(`verifying ${target}: 1 of 4 written ranges differ from the image`);
    expect(e.details).toEqual([expect.stringMatching(/^blocks 2560-2562 \(bytes 10485760-10498047\): SHA256 [0-9a-f]{64}, expected [0-9a-f]{64}$/)]);
  });

  it('stops when the image no longer matches its bmap', async () => {
    const changed = await makeSparseImage(dir, 'changed.img');
    await writeBmap(changed.path);
    await flipByte(changed.path, 100);
    const e = await otaRejection(flash({ image: changed.path, device: path.join(dir, 'x.img'), force: true }));
    expect(e.message).toMatch(/changed\.img does not match its block map: blocks 0-256 have SHA256 .*holds part of the image$/);
  });

  it("refuses a bmap made for another image size, and the image as its own target", async () => {
    const other = path.join(dir, 'other.bmap');
    await writeFile(other, formatBmap({ ...(await createBmap(img.path)), imageSize: IMAGE_SIZE - 4096, blocksCount: 16383, ranges: [], mappedBlocksCount: 0 }));
    expect(await otaRejection(flash({ image: img.path, device: path.join(dir, 'y.img'), bmap: other }))).toMatchObject({ code: 'ERR_OTA_BMAP', exitCode: 2, message: expect.stringMatching(/block map of a 67104768-byte image, but .* has 67108864 bytes/) });
    expect((await otaRejection(flash({ image: img.path, device: img.path, force: true }))).message).toBe(`${img.path} is the image itself`);
  });
});

describe.skipIf(!loops)('flash to a loop device', () => {
  const attached: string[] = [];
  let small: string;
  let big: string;
  let bigFile: string;
  beforeAll(async () => {
    // A 16 MiB device, and a 64 MiB one filled with 0xAA so skipped holes show.
    await writeFile(path.join(dir, 'small.backing'), Buffer.alloc(16 << 20));
    bigFile = path.join(dir, 'big.backing');
    await writeFile(bigFile, Buffer.alloc(IMAGE_SIZE, 0xaa));
    small = await attachLoop(path.join(dir, 'small.backing'));
    attached.push(small);
    big = await attachLoop(bigFile);
    attached.push(big);
  });
  afterAll(async () => {
    for (const d of attached) await detachLoop(d);
  });

  it('refuses a device smaller than the image and writes nothing to it', async () => {
    const e = await otaRejection(flash({ image: img.path, device: small }));
    expect(e.message).toBe(`refusing to write ${small}: ${small} holds 16777216 bytes (16.0 MiB) but the image is 67108864 bytes (64.0 MiB)`);
    expect((await readFile(path.join(dir, 'small.backing'))).equals(Buffer.alloc(16 << 20))).toBe(true);
  });

  it('writes the mapped blocks, keeps what was in the holes, and reads back from the device', async () => {
    // Another opener keeps the device's page cache alive past the flash's close (the kernel drops
    // it on the last close), so the read-back below would see cached pages unless verify drops them.
    const holder = await open(big, 'r');
    onTestFinished(() => holder.close());
    const r = await flash({ image: img.path, device: big });
    expect(r).toMatchObject({ writtenBytes: img.mappedBytes, verified: true });
    const onDisk = await readFile(bigFile);
    for (const x of img.ranges) {
      const [s, e] = [x.first * 4096, (x.last + 1) * 4096];
      expect(onDisk.subarray(s, e).equals(img.data.subarray(s, e))).toBe(true);
    }
    expect(onDisk.subarray(20 << 20, 21 << 20).equals(Buffer.alloc(1 << 20, 0xaa))).toBe(true); // a hole: not written

    // Changed under the device, through its backing file: only a read from the device sees it.
    await flipByte(bigFile, (40 << 20) + 200);
    const e = await otaRejection(verifyTarget(big, await readBmap(`${img.path}.bmap`)));
    expect(e.details).toEqual([expect.stringMatching(/^blocks 10240-10241 /)]);
  });

  it('refuses a mounted device (real /proc), and the kernel refuses it too (O_EXCL) when our checks see nothing', async () => {
    const tiny = path.join(dir, 'tiny.img');
    await writeFile(tiny, Buffer.alloc(1 << 20, 0x42));
    await run('make a file system', ['mkfs.ext4', '-q', small]);
    const mnt = path.join(dir, 'mnt');
    await mkdir(mnt);
    await run('mount it', ['mount', small, mnt]);
    try {
      const e = await otaRejection(flash({ image: tiny, device: small }));
      expect(e.message).toBe(`refusing to write ${small}: ${small} is in use: ${small} on ${mnt}`);
      const blind = path.join(dir, 'blind-proc');
      await mkdir(path.join(blind, 'self'), { recursive: true });
      await writeFile(path.join(blind, 'self/mountinfo'), '');
      const k = await otaRejection(flash({ image: tiny, device: small, procRoot: blind }));
      expect(k.message).toMatch(new RegExp(`^cannot open ${small} for writing: .*EBUSY.*the kernel says it is busy`));
    } finally {
      await run('unmount it', ['umount', mnt]);
    }
  });

  it('refuses a device that is mounted (fixture mountinfo) unless forced', async () => {
    const name = path.basename(big);
    const devno = (await readFile(`/sys/class/block/${name}/dev`, 'utf8')).trim();
    const proc = path.join(dir, 'proc');
    await mkdir(path.join(proc, 'self'), { recursive: true });
    await writeFile(path.join(proc, 'self/mountinfo'), `22 1 0:30 / / rw - overlay overlay rw\n31 22 ${devno} / /mnt/card rw,relatime - ext4 ${big} rw\n`);
    const e = await otaRejection(flash({ image: img.path, device: big, procRoot: proc }));
    expect(e).toMatchObject({ message: `refusing to write ${big}: ${big} is in use: ${big} on /mnt/card`, hint: 'unmount it first (umount /mnt/card), or pass --force' });
    const events: OtaEvent[] = [];
    const r = await flash({ image: img.path, device: big, procRoot: proc, force: true, onEvent: (x) => events.push(x) });
    expect(r.overridden.map((c) => c.check)).toEqual(['in-use']);
    expect(events.filter((x) => x.level === 'warning').map((x) => x.message)).toEqual([`--force: writing although ${big} is in use: ${big} on /mnt/card`]);
  });
});

describe('the real host', () => {
  it("plans to refuse the disk this machine's / lives on (checks only; nothing is opened for writing)", async (ctx) => {
    const system = await readSystemState();
    const root = system.mounts.find((m) => m.where === '/')?.devices[0];
    const disk = root && system.blocks.get(root)?.disk;
    if (!disk) return ctx.skip(); // / on overlay or tmpfs (a container): no disk to protect
    const target = await describeTarget(`/dev/${disk}`, system);
    expect(target).toMatchObject({ kind: 'block', name: disk });
    expect(planTargetChecks(target, system, 1).map((r) => r.check)).toEqual(['in-use', 'host-disk']);
  });
});
