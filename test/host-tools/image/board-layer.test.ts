import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadBoard, parseBoard } from '../../../host-tools/board/load.js';
import { BOOT_MOUNT, planBoardLayer, vfatUuid, withBootMount } from '../../../host-tools/image/board-layer.js';
import { planGrubEfi } from '../../../host-tools/image/grub-efi.js';
import { otaRejection } from '../../helpers/errors.js';

// The mount and the agent's board layer that ota image writes, as data, for the shipped boards.
// That the agent loads them: test/e2e/provision-agent.int.test.ts; that they are in an image:
// disk-image.int.test.ts; that a booted agent uses them: test/e2e/update-arm64.vm.test.ts.

const UUID = '3c1f5a0e-1b2d-4c3e-8f40-5a6b7c8d9e0f';

describe('planBoardLayer', () => {
  it('U-Boot boards: mounts the boot partition by its volume id, ota.env under the mount', async () => {
    for (const name of ['qemu-arm64', 'qemu-armhf', 'raspberrypi4', 'beaglebone-black']) {
      const { board } = await loadBoard(name);
      const plan = planBoardLayer(board, { rootUuid: UUID, volumeId: '0a1b2c3d', osname: 'gw' });
      expect(plan.partition, name).toBe(board.bootloader.type === 'uboot' && board.bootloader.env.kind === 'text-file' ? board.bootloader.env.partition : '?');
      expect(plan.fstabLine).toBe('UUID=0A1B-2C3D /boot/efi vfat umask=0077,x-systemd.device-timeout=5min 0 0');
      expect(plan.layer).toEqual({ board: name, osname: 'gw', bootloader: { kind: 'uboot', envPath: '/boot/efi/ota.env', bootlimit: board.bootloader.bootlimit } });
      expect(parseYaml(plan.layerText)).toEqual(plan.layer);
    }
  });

  it('GRUB boards: mounts the ESP; grubenv, grub.cfg and where GRUB finds them as the rendered grub.cfg does', async () => {
    const { board } = await loadBoard('x86_64-efi');
    const plan = planBoardLayer(board, { rootUuid: UUID, volumeId: 'deadbeef', osname: 'gw' });
    expect(plan.partition).toBe('esp');
    expect(plan.fstabLine).toMatch(/^UUID=DEAD-BEEF \/boot\/efi vfat /);
    expect(plan.layer).toEqual({
      board: 'x86_64-efi',
      osname: 'gw',
      bootloader: {
        kind: 'grub', envPath: '/boot/efi/EFI/ota/grubenv', configPath: '/boot/efi/EFI/ota/grub.cfg',
        envLocation: { path: '/EFI/ota/grubenv' }, bootLocation: { uuid: UUID, path: '/boot' }, bootlimit: 3,
      },
    });
    // the same places as the grub.cfg ota image writes on the ESP
    const entry = { file: 'ostree-1-os.conf', title: 'os (ostree:0)', version: '1', linux: '/ostree/os-0/vmlinuz-6.1.0-1-amd64', initrd: [], options: 'rw ostree=/ostree/boot.1/os/0/0', devicetree: undefined };
    const esp = planGrubEfi(board, { entries: [entry], rootUuid: UUID });
    expect(`${BOOT_MOUNT}/${esp.config.to}`).toBe((plan.layer.bootloader as { configPath: string }).configPath);
    expect(esp.config.text).toContain(`search --no-floppy --fs-uuid --set=root '${UUID}'`);
  });

  it('refuses a GRUB board whose grubenv is not on the ESP, which it cannot mount with it', async () => {
    const board = parseBoard(`name: efi2
arch: amd64
description: test board
kernel: { packages: [linux-image-amd64], console: ttyS0 }
bootloader: { type: grub-efi, packages: [grub-efi-amd64-bin], env: { partition: state, path: grubenv } }
disk:
  table: gpt
  partitions:
    - { label: esp, fs: vfat, size: 128MiB, role: esp }
    - { label: state, fs: vfat, size: 16MiB, role: boot }
    - { label: root, fs: ext4, size: rest, role: root }
`, 'board.yaml');
    const e = await otaRejection(Promise.resolve().then(() => planBoardLayer(board, { rootUuid: UUID, volumeId: '00000001', osname: 'gw' })));
    expect(e.code).toBe('ERR_OTA_BOARD');
    expect(e.message).toMatch(/grubenv on partition state, not on the ESP/);
  });
});

describe('withBootMount', () => {
  it("adds the line to Debian's unconfigured fstab, and replaces its own line when written again", () => {
    const debian = '# UNCONFIGURED FSTAB FOR BASE SYSTEM\n';
    const once = withBootMount(debian, 'UUID=AAAA-0001 /boot/efi vfat umask=0077 0 0');
    expect(once).toBe('# UNCONFIGURED FSTAB FOR BASE SYSTEM\n# the boot-counting env for ota-agent, added by ota image\nUUID=AAAA-0001 /boot/efi vfat umask=0077 0 0\n');
    expect(withBootMount(once, 'UUID=BBBB-0002 /boot/efi vfat umask=0077 0 0')).toBe(once.replace('AAAA-0001', 'BBBB-0002'));
    expect(withBootMount('', 'L')).toBe('# the boot-counting env for ota-agent, added by ota image\nL\n');
    // someone else's /boot/efi line is replaced too (one mount point, one file system); others kept
    expect(withBootMount('/dev/sda1 /boot/efi vfat defaults 0 1\n/dev/sda3 /data ext4 defaults 0 2\n', 'L')).toBe('/dev/sda3 /data ext4 defaults 0 2\n# the boot-counting env for ota-agent, added by ota image\nL\n');
  });

  it('spells the volume id as /dev/disk/by-uuid does', () => {
    expect(vfatUuid('a1b2c3d4')).toBe('A1B2-C3D4');
    expect(() => vfatUuid('a1b2')).toThrow(/this is a bug/);
  });
});
