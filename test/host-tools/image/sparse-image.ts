import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../../common/exec.js';

/** A sparse test image, and what a block map of it must say. */
export interface SparseImage {
  path: string;
  /** The whole image in memory, holes as zeros, to compare targets with. */
  data: Buffer;
  /** The 4096-byte block ranges that hold data. */
  ranges: Array<{ first: number; last: number }>;
  mappedBytes: number;
}

export const IMAGE_SIZE = 64 << 20;

/**
 * Writes a 64 MiB sparse image with four data regions, at offsets so everything else stays a hole:
 * 1 MiB + 512 bytes at 0 (a partial block at the end), 3 blocks at 10 MiB, 5000 bytes across a
 * block boundary at 40 MiB + 100, and the last 10 bytes. Random data, so no two images match.
 *
 * @example
 * const img = await makeSparseImage(dir); // img.path, img.data, img.ranges
 */
export async function makeSparseImage(dir: string, name = 'disk.img'): Promise<SparseImage> {
  const file = path.join(dir, name);
  const data = Buffer.alloc(IMAGE_SIZE);
  const regions: Array<[number, number]> = [[0, (1 << 20) + 512], [10 << 20, 3 * 4096], [(40 << 20) + 100, 5000], [IMAGE_SIZE - 10, 10]];
  await writeFile(file, '');
  await truncate(file, IMAGE_SIZE);
  const fh = await open(file, 'r+');
  for (const [off, n] of regions) {
    const bytes = randomBytes(n);
    bytes.copy(data, off);
    await fh.write(bytes, 0, n, off);
  }
  await fh.close();
  const ranges = [{ first: 0, last: 256 }, { first: 2560, last: 2562 }, { first: 10240, last: 10241 }, { first: 16383, last: 16383 }];
  return { path: file, data, ranges, mappedBytes: ranges.reduce((n, r) => n + (r.last - r.first + 1) * 4096, 0) };
}

/** A temp dir on the test's file system (ext4 here; filefrag needs FIEMAP). */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** Attaches a file to a free loop device and returns its path (/dev/loopN). */
export async function attachLoop(file: string): Promise<string> {
  return (await run(`attach ${file} to a loop device`, ['losetup', '-f', '--show', file])).stdout.trim();
}

export async function detachLoop(dev: string): Promise<void> {
  await run(`detach ${dev}`, ['losetup', '-d', dev]);
}

/** Whether this machine can attach loop devices (root, /dev/loop-control, not a locked-down container). */
export async function loopDevicesWork(): Promise<boolean> {
  const dir = await tempDir('ota-loop-probe-');
  try {
    const f = path.join(dir, 'probe');
    await writeFile(f, Buffer.alloc(1 << 20));
    await detachLoop(await attachLoop(f));
    return true;
  } catch {
    return false;
  } finally {
    await removeDir(dir);
  }
}
