import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { run } from '../../../common/exec.js';
import { hasOstreePrepareRoot, listInitramfs, missingRootModules, moduleName } from '../../../host-tools/compose/initramfs.js';
import { newcArchive } from '../../helpers/cpio.js';

const MAIN = [
  { name: '.', mode: 0o40755 },
  { name: 'usr/lib/modules/6.1.0-1-arm64/kernel/fs/ext4/ext4.ko', data: 'elf' },
  { name: 'usr/lib/modules/6.1.0-1-arm64/kernel/drivers/virtio/virtio_mmio.ko.xz', data: 'xz' },
  { name: 'usr/lib/ostree/ostree-prepare-root', mode: 0o100755, data: 'elf' },
];

describe('listInitramfs', () => {
  it('lists a gzip-compressed cpio, as dracut writes it, and agrees with cpio -t', async () => {
    const img = gzipSync(newcArchive(MAIN));
    const paths = listInitramfs(img, 'initramfs.img');
    expect(paths).toEqual(['.', ...MAIN.slice(1).map((e) => e.name)]);
    const dir = await mkdtemp(join(tmpdir(), 'ota-initramfs-'));
    await writeFile(join(dir, 'img'), img);
    const listed = (await run('list the archive with cpio', ['sh', '-c', `gzip -dc ${join(dir, 'img')} | cpio -it --quiet`])).stdout.trim().split('\n');
    expect(paths).toEqual(listed);
  });

  it('reads an uncompressed early part (microcode), padding, then the compressed main part', () => {
    const early = newcArchive([{ name: 'kernel/x86/microcode/GenuineIntel.bin', data: Buffer.alloc(1000, 1) }]);
    const img = Buffer.concat([early, Buffer.alloc(512 - (early.length % 512)), gzipSync(newcArchive(MAIN))]);
    expect(listInitramfs(img, 'initramfs.img')).toEqual(['kernel/x86/microcode/GenuineIntel.bin', '.', ...MAIN.slice(1).map((e) => e.name)]);
  });

  it('refuses a compression it does not read, and a broken archive, saying where', () => {
    const zstdMagic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0]);
    const e1 = rejectionOfSync(() => listInitramfs(zstdMagic, 'k1: initramfs.img'));
    expect(e1.message).toBe('k1: initramfs.img: byte 0 starts neither a cpio archive nor gzip data (0x28b52ffd)');
    expect(e1.hint).toContain('gzip');
    const truncated = newcArchive(MAIN).subarray(0, 200);
    expect(rejectionOfSync(() => listInitramfs(truncated, 'x')).message).toMatch(/^x: (truncated cpio entry|broken cpio header) at byte \d+/);
    expect(rejectionOfSync(() => listInitramfs(Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(10, 7)]), 'x')).message).toMatch(/^x: the gzip part at byte 0 does not decompress/);
  });
});

describe('root modules', () => {
  const paths = MAIN.map((e) => e.name);

  it('names modules as modprobe does (compressed or not, dashes are underscores)', () => {
    expect(moduleName('a/b/ext4.ko')).toBe('ext4');
    expect(moduleName('sdhci-iproc.ko.zst')).toBe('sdhci_iproc');
    expect(moduleName('usr/lib/ostree/ostree-prepare-root')).toBeUndefined();
  });

  it('counts a module as there if the initramfs holds it or the kernel has it built in', () => {
    expect(missingRootModules(paths, '', ['ext4', 'virtio-mmio', 'virtio_blk'])).toEqual(['virtio_blk']);
    expect(missingRootModules(paths, 'kernel/drivers/block/virtio_blk.ko\nkernel/fs/fat/fat.ko\n', ['ext4', 'virtio_blk'])).toEqual([]);
    expect(missingRootModules([], '', ['ext4'])).toEqual(['ext4']);
  });

  it("finds dracut's ostree module by ostree-prepare-root", () => {
    expect(hasOstreePrepareRoot(paths)).toBe(true);
    expect(hasOstreePrepareRoot(paths.filter((p) => !p.includes('ostree')))).toBe(false);
  });
});

function rejectionOfSync(fn: () => unknown): OtaError {
  try {
    fn();
  } catch (e) {
    if (e instanceof OtaError) return e;
    throw e;
  }
  throw new Error('expected an OtaError');
}
