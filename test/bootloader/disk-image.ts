import { posix } from 'node:path';
import { run } from '../../common/exec.js';

/**
 * Small MBR disk images for bootloader tests, made without loop devices or root: a sparse file,
 * sfdisk, then each filesystem made at its offset (`mkfs.vfat --offset` filled with mtools,
 * `mke2fs -d DIR -E offset=`), and read back the same way (mtools, debugfs `IMG?offset=`).
 */
export interface PartitionSpec {
  fs: 'vfat' | 'ext4';
  sizeMiB: number;
  label: string;
  /** vfat: local files and where they go (`EFI/ota/grubenv`); directories are made as needed. */
  files?: { from: string; to: string }[];
  /** ext4: the directory that becomes the filesystem's root. */
  dir?: string;
}

export interface DiskImage {
  path: string;
  /** Byte offset of each partition, in order. */
  offsets: number[];
}

const MiB = 1024 * 1024;

export async function makeDiskImage(path: string, parts: PartitionSpec[]): Promise<DiskImage> {
  const offsets: number[] = [];
  let next = 1;
  for (const p of parts) {
    offsets.push(next * MiB);
    next += p.sizeMiB;
  }
  await run('create the disk image', ['truncate', '-s', `${next}M`, path]);
  const table = ['label: dos', ...parts.map((p, i) => `start=${(offsets[i] as number) / 512}, size=${p.sizeMiB * 2048}, type=${p.fs === 'vfat' ? 'c' : '83'}`)].join('\n');
  await run('partition the disk image', ['sfdisk', '-q', path], { input: `${table}\n` });
  for (const [i, p] of parts.entries()) {
    const offset = offsets[i] as number;
    if (p.fs === 'vfat') {
      await run('make the vfat partition', ['mkfs.vfat', '-n', p.label, '--offset', String(offset / 512), path, String(p.sizeMiB * 1024)]);
      const img = `${path}@@${offset}`;
      const made = new Set<string>();
      for (const f of p.files ?? []) {
        const parts = posix.dirname(f.to).split('/').filter((d) => d !== '.');
        for (let n = 1; n <= parts.length; n++) {
          const d = parts.slice(0, n).join('/');
          if (!made.has(d)) await run('make a vfat directory', ['mmd', '-i', img, `::/${d}`]);
          made.add(d);
        }
        await run('fill the vfat partition', ['mcopy', '-i', img, f.from, `::/${f.to}`]);
      }
    } else {
      const dirArgs = p.dir ? ['-d', p.dir] : [];
      await run('make the ext4 partition', ['mke2fs', '-q', '-t', 'ext4', '-L', p.label, ...dirArgs, '-E', `offset=${offset}`, path, `${p.sizeMiB * 1024}k`]);
    }
  }
  return { path, offsets };
}

/** A file from a vfat partition (exact bytes). */
export async function readVfatFile(img: DiskImage, part: number, name: string): Promise<Buffer> {
  return (await run(`read ${name} from the vfat partition`, ['mtype', '-i', `${img.path}@@${img.offsets[part]}`, `::/${name}`], { binary: true })).stdout;
}

/** Replaces a file on a vfat partition. */
export async function writeVfatFile(img: DiskImage, part: number, local: string, name: string): Promise<void> {
  await run(`write ${name} to the vfat partition`, ['mcopy', '-o', '-i', `${img.path}@@${img.offsets[part]}`, local, `::/${name}`]);
}

/** A file from an ext4 partition. */
export async function readExt4File(img: DiskImage, part: number, path: string): Promise<Buffer> {
  return (await run(`read ${path} from the ext4 partition`, ['debugfs', '-R', `cat ${path}`, `${img.path}?offset=${img.offsets[part]}`], { binary: true })).stdout;
}
