import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listBoards, loadBoard, parseBoard, parseSize } from '../../../host-tools/board/load.js';
import { otaRejection } from '../../helpers/errors.js';

const QEMU = `name: t
arch: arm64
description: test board
kernel: { packages: [linux-image-arm64], console: ttyAMA0 }
bootloader:
  type: uboot
  packages: [u-boot-qemu]
  env: { kind: text-file, partition: boot, path: ota.env }
  device: { interface: virtio, boot: "0:1", root: "0:2" }
disk:
  table: gpt
  partitions:
    - { label: boot, fs: vfat, size: 64MiB, role: boot }
    - { label: root, fs: ext4, size: rest, role: root }
`;

function problem(text: string): string {
  try {
    parseBoard(text, 'board.yaml');
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected the board to be refused');
}

describe('boards/', () => {
  it('ships the reference and real boards, each loading under its folder name', async () => {
    const names = await listBoards();
    expect(names).toEqual(expect.arrayContaining(['qemu-arm64', 'qemu-armhf', 'raspberrypi4', 'beaglebone-black', 'x86_64-efi']));
    for (const n of names) expect((await loadBoard(n)).board.name).toBe(n);
    const rpi = (await loadBoard('raspberrypi4')).board;
    expect(rpi.kernel.devicetrees).toEqual(['broadcom/bcm2711-rpi-4-b.dtb']);
    expect((await loadBoard('x86_64-efi')).board.bootloader.type).toBe('grub-efi');
  });
});

describe('parseBoard', () => {
  it('fills defaults: bootlimit 3, dracut, 1MiB before the first partition', () => {
    const b = parseBoard(QEMU, 'board.yaml');
    expect(b.bootloader.bootlimit).toBe(3);
    expect(b.kernel.initramfs).toBe('dracut');
    expect(b.disk.firstOffset).toBe('1MiB');
  });

  it('names the line of an unknown key and suggests the near one', () => {
    expect(problem(QEMU.replace('console: ttyAMA0', 'consol: ttyAMA0'))).toBe('unknown key "consol" at kernel (board.yaml:4); did you mean "console"?');
  });

  it('refuses layouts that cannot work, saying why', () => {
    expect(problem(QEMU.replace('role: root', 'role: boot'))).toContain('need exactly one partition with role root, found 0');
    expect(problem(QEMU.replace('{ label: root, fs: ext4', '{ label: root, fs: vfat'))).toContain('the root partition must be ext4');
    expect(problem(QEMU.replace('size: 64MiB', 'size: rest'))).toContain('only the last partition can take the rest');
    expect(problem(QEMU.replace('partition: boot, path', 'partition: bot, path'))).toContain('bootloader.env.partition: no partition labelled bot (partitions: boot, root)');
    expect(problem(QEMU.replace('{ label: boot, fs: vfat', '{ label: boot, fs: ext4'))).toContain('partition boot is ext4, but this needs vfat');
    expect(problem(QEMU.replace('size: 64MiB', 'size: 64MB'))).toContain('a size such as 64MiB');
    expect(problem(QEMU.replace('{ kind: text-file, partition: boot, path: ota.env }', '{ kind: raw, offset: 0x3f8000, size: 0x4000 }'))).toContain('bootloader.env.kind: raw (U-Boot\'s binary environment) is not supported by ota\'s boot script yet; use { kind: text-file');
    const grub = QEMU.replace('arch: arm64', 'arch: armhf').replace(/bootloader:[\s\S]*?disk:/, 'bootloader: { type: grub-efi, packages: [grub-efi-arm-bin], env: { partition: boot, path: grubenv } }\ndisk:');
    expect(problem(grub)).toContain('grub-efi needs a partition with role esp');
  });

  it('finds boards by name with a suggestion for a typo, or by path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-boards-'));
    await mkdir(join(dir, 't'));
    await writeFile(join(dir, 't/board.yaml'), QEMU);
    expect((await loadBoard('t', dir)).board.name).toBe('t');
    expect((await loadBoard(join(dir, 't/board.yaml'))).dir).toBe(join(dir, 't'));
    const e = await otaRejection(loadBoard('qemu-arm46'));
    expect(e.code).toBe('ERR_OTA_BOARD');
    expect(e.message).toContain('did you mean qemu-arm64?');
    expect(e.exitCode).toBe(2);
    await mkdir(join(dir, 'other'));
    await writeFile(join(dir, 'other/board.yaml'), QEMU);
    expect((await otaRejection(loadBoard('other', dir))).message).toContain('names itself t, but its folder is other');
  });

  it('parses sizes', () => {
    expect(parseSize('64MiB')).toBe(64 * 1024 * 1024);
    expect(parseSize('2GiB')).toBe(2 * 1024 ** 3);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('rest')).toBeUndefined();
  });
});

describe('paths a board reads files from', () => {
  const withInstall = (from: string) => `${QEMU}firmware: { install: [{ from: ${JSON.stringify(from)}, partition: boot, to: x.bin }] }\n`;

  it.each(['/usr/lib/u-boot/rpi_4/u-boot.bin', 'board:config.txt', 'board:overlays/a.dtbo', 'dtb:broadcom/bcm2711-rpi-4-b.dtb'])('takes firmware.install from %s', (from) => {
    expect(parseBoard(withInstall(from), 'board.yaml').firmware.install[0]!.from).toBe(from);
  });

  it.each(['board:../../../etc/shadow', 'board:/etc/shadow', 'dtb:../../../../etc/shadow', '/usr/../../etc/shadow', 'usr/lib/x.bin', 'board:..', 'http://x/y'])('refuses firmware.install from %s', (from) => {
    expect(problem(withInstall(from))).toMatch(/an absolute path of the image, board:PATH or dtb:PATH \(relative\), without "\.\."/);
  });
});
