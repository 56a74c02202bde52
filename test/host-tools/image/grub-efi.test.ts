import { describe, expect, it } from 'vitest';
import type { BlsEntry } from '../../../bootloader/grub/bls.js';
import { parseGrubEnv, GRUBENV_SIZE } from '../../../bootloader/grub/env.js';
import { bootStateFromVars } from '../../../bootloader/state-vars.js';
import { parseBoard } from '../../../host-tools/board/load.js';
import { GRUB_EFI_MODULES, planGrubEfi } from '../../../host-tools/image/grub-efi.js';
import { OtaError } from '../../../common/errors.js';

// The ESP's contents as data. That GRUB boots with them: grub-efi.int.test.ts (mtools on a real
// image) and test/e2e/boot-efi.vm.test.ts (OVMF under qemu).

const board = (arch = 'amd64', envPartition = 'esp', extraPartition = '') =>
  parseBoard(
    `name: efi
arch: ${arch}
description: test board
kernel: { packages: [linux-image-${arch}], console: ttyS0 }
bootloader: { type: grub-efi, packages: [grub-efi-${arch}-bin], env: { partition: ${envPartition}, path: EFI/ota/grubenv }, bootlimit: 4 }
disk:
  table: gpt
  partitions:
    - { label: esp, fs: vfat, size: 128MiB, role: esp }
${extraPartition}    - { label: root, fs: ext4, size: rest, role: root }
`,
    'board.yaml',
  );

const entry = (n: number): BlsEntry => ({
  file: `ostree-${n}-os.conf`,
  title: `os (ostree:${n})`,
  version: String(2 - n),
  linux: `/ostree/os-${n}/vmlinuz-6.1.0-1-amd64`,
  initrd: [`/ostree/os-${n}/initramfs-6.1.0-1-amd64.img`],
  options: `root=UUID=0f0e rw ostree=/ostree/boot.1/os/${n}/0`,
  devicetree: undefined,
});
const UUID = '3c1f5a0e-1b2d-4c3e-8f40-5a6b7c8d9e0f';

describe('planGrubEfi', () => {
  it('puts GRUB for x86_64-efi at the removable-media path of the ESP, with the prefix EFI/ota and no device', () => {
    const p = planGrubEfi(board(), { entries: [entry(0)], rootUuid: UUID });
    expect(p.platform).toBe('x86_64-efi');
    expect(p.moduleDir).toBe('usr/lib/grub/x86_64-efi');
    expect(p.binary).toEqual({ partition: 'esp', to: 'EFI/BOOT/BOOTX64.EFI' });
    expect(p.prefix).toBe('/EFI/ota');
    expect(p.modules).toEqual(GRUB_EFI_MODULES);
    for (const m of ['part_gpt', 'fat', 'ext2', 'search', 'configfile', 'loadenv', 'test', 'linux', 'normal', 'echo', 'boot']) expect(p.modules).toContain(m);
  });

  it('arm64 boards get arm64-efi and BOOTAA64.EFI', () => {
    const p = planGrubEfi(board('arm64'), { entries: [entry(0)], rootUuid: UUID });
    expect(p.platform).toBe('arm64-efi');
    expect(p.binary.to).toBe('EFI/BOOT/BOOTAA64.EFI');
  });

  it("embeds an early config of plain commands (GRUB's rescue parser runs it): the boot partition first, then grub.cfg", () => {
    const lines = planGrubEfi(board(), { entries: [entry(0)], rootUuid: UUID }).earlyConfig.trim().split('\n');
    expect(lines).toEqual([
      'search --no-floppy --file --set=root --hint="${root}" /EFI/ota/grub.cfg',
      'set prefix=(${root})/EFI/ota',
      'configfile (${root})/EFI/ota/grub.cfg',
    ]);
  });

  it("renders grub.cfg from the entries: OSTree's /boot found by the root file system's UUID, the grubenv on the ESP", () => {
    const p = planGrubEfi(board(), { entries: [entry(0), entry(1)], rootUuid: UUID });
    expect(p.config).toMatchObject({ partition: 'esp', to: 'EFI/ota/grub.cfg' });
    const l = p.config.text.split('\n').map((x) => x.trim());
    expect(l).toContain(`search --no-floppy --fs-uuid --set=root '${UUID}'`);
    expect(l).toContain('load_env -f "/EFI/ota/grubenv" bootcount bootlimit rollback upgrade_available');
    expect(l).toContain('set bootlimit=4');
    expect(l).toContain("linux '/boot/ostree/os-0/vmlinuz-6.1.0-1-amd64' 'root=UUID=0f0e' 'rw' 'ostree=/ostree/boot.1/os/0/0'");
    expect(l).toContain("initrd '/boot/ostree/os-1/initramfs-6.1.0-1-amd64.img'");
    expect(p.config.text).not.toContain('--label');
  });

  it('writes the initial grubenv: 1024 bytes, the board bootlimit, nothing pending', () => {
    const p = planGrubEfi(board(), { entries: [entry(0)], rootUuid: UUID });
    expect(p.env).toMatchObject({ partition: 'esp', to: 'EFI/ota/grubenv' });
    expect(p.env.bytes.length).toBe(GRUBENV_SIZE);
    expect(bootStateFromVars(parseGrubEnv(p.env.bytes, 'grubenv'), 'grubenv')).toEqual({ bootcount: 0, bootlimit: 4, rollback: false, upgradeAvailable: false });
  });

  it('finds a grubenv on another vfat partition by its label, as mkfs.vfat wrote it', () => {
    const p = planGrubEfi(board('amd64', 'state', '    - { label: state, fs: vfat, size: 16MiB, role: boot }\n'), { entries: [entry(0)], rootUuid: UUID });
    expect(p.env.partition).toBe('state');
    expect(p.config.text).toContain("search --no-floppy --label --set=deb_ota_env 'STATE'");
    expect(p.config.text).toContain('load_env -f "(${deb_ota_env})/EFI/ota/grubenv"');
  });

  it('refuses a sysroot without boot entries, and a U-Boot board is a bug', () => {
    expect(() => planGrubEfi(board(), { entries: [], rootUuid: UUID })).toThrow(OtaError);
    const uboot = parseBoard(
      `name: u
arch: arm64
description: u
kernel: { packages: [k], console: ttyAMA0 }
bootloader: { type: uboot, packages: [u-boot-qemu], env: { kind: text-file, partition: boot, path: ota.env }, device: { interface: virtio, boot: "0:1", root: "0:2" } }
disk: { table: gpt, partitions: [{ label: boot, fs: vfat, size: 64MiB, role: boot }, { label: root, fs: ext4, size: rest, role: root }] }
`,
      'board.yaml',
    );
    expect(() => planGrubEfi(uboot, { entries: [entry(0)], rootUuid: UUID })).toThrow(/this is a bug/);
  });
});
