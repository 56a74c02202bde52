/**
 * A fixture board for build and image tests: kernel, bootloader and initramfs-tool packages for
 * any architecture, and its board.yaml. `dracut` is a stand-in (a fake at the process boundary: a
 * script that records how it was called and writes an initramfs file), versions 9999 so they win
 * over the host archive's real ones.
 *
 * @example
 * const pkgs = boardPackages('arm64', '6.1.0-1');
 * await writeFile(join(boardsDir, 'fxboard/board.yaml'), BOARD_YAML('arm64'));
 */
import type { FixturePackage } from './fixture-archive.js';

export const boardPackages = (arch: string, kver: string): FixturePackage[] => [
  {
    name: 'fx-linux', version: kver, arch, depends: 'initramfs-tools | linux-initramfs-tool',
    files: { [`/boot/vmlinuz-${kver}`]: `kernel ${kver}\n`, [`/usr/lib/modules/${kver}/modules.dep`]: '' },
    scripts: { postinst: `#!/bin/sh\nset -e\n[ "$1" = configure ] || exit 0\necho "INITRD=\${INITRD:-}" > /var/lib/fx-linux-postinst\n` },
  },
  { name: 'initramfs-tools', version: '9999', arch: 'all', files: { '/usr/share/initramfs-tools/marker': 'not wanted\n' } },
  {
    name: 'dracut', version: '9999', arch, provides: 'linux-initramfs-tool',
    files: { '/usr/bin/dracut': '#!/bin/sh\necho "$*" >> /var/lib/dracut-calls\nfor last; do :; done\nout=""; prev=""\nfor a; do [ "$prev" = --compress ] || case "$a" in /boot/*) out=$a;; esac; prev=$a; done\necho "initramfs for $last" > "$out"\n' },
  },
  { name: 'ostree-boot', version: '9999', arch, files: { '/usr/lib/dracut/modules.d/98ostree/module-setup.sh': '#!/bin/bash\n' } },
  { name: 'fx-uboot', version: '2023.01-1', arch: 'all', files: { '/usr/lib/u-boot/fx/u-boot.bin': 'u-boot\n' } },
];

export const BOARD_YAML = (arch: string): string => `name: fxboard
arch: ${arch}
description: fixture board
kernel: { packages: [fx-linux], console: ttyS0 }
bootloader: { type: uboot, packages: [fx-uboot], install: [{ from: /usr/lib/u-boot/fx/u-boot.bin, partition: boot, to: u-boot.bin }], env: { kind: text-file, partition: boot, path: ota.env }, device: { interface: mmc, boot: "0:1", root: "0:2" } }
disk: { table: gpt, partitions: [{ label: boot, fs: vfat, size: 64MiB, role: boot }, { label: root, fs: ext4, size: rest, role: root }] }
`;

