/**
 * A fixture board for build and image tests: kernel, bootloader and initramfs-tool packages for
 * any architecture, and its board.yaml. `dracut` is a stand-in (a fake at the process boundary: a
 * script that records how it was called and writes a small initramfs), versions 9999 so they win
 * over the host archive's real ones.
 *
 * @example
 * const pkgs = boardPackages('arm64', '6.1.0-1');
 * await writeFile(join(boardsDir, 'fxboard/board.yaml'), BOARD_YAML('arm64'));
 */
import type { FixturePackage } from './fixture-archive.js';

/**
 * The stand-in dracut: writes a real (uncompressed, newc) cpio initramfs holding a file that says
 * which kernel it is for, ostree-prepare-root when called with `--add ostree`, and every .ko
 * under its module directory (`--kmoddir`, else /usr/lib/modules/$kver), as the real one would.
 */
const DRACUT = [
  '#!/bin/sh',
  'echo "$*" >> /var/lib/dracut-calls',
  'for last; do :; done',
  'out=""; prev=""; kmoddir=/usr/lib/modules/$last',
  'for a; do',
  '  case "$prev" in --compress) ;; --kmoddir) kmoddir=$a ;; *) case "$a" in /boot/*) out=$a ;; esac ;; esac',
  '  prev=$a',
  'done',
  // as dracut 059 does: modules from elsewhere end up in the wrong place in the initramfs
  'case "$kmoddir" in */lib/modules/*) ;; *) echo "dracut: drivers_dir path set via -k/--kmoddir must contain \\"/lib/modules/\\" as a parent" >&2; exit 1 ;; esac',
  "pad() { n=$(( (4 - $1 % 4) % 4 )); while [ \"$n\" -gt 0 ]; do printf '\\0'; n=$((n - 1)); done; }",
  "entry() { s=$(( ${#1} + 1 )); printf '070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x' 0 \"$2\" 0 0 1 0 ${#3} 0 0 0 0 \"$s\" 0; printf '%s\\0' \"$1\"; pad $((110 + s)); printf '%s' \"$3\"; pad ${#3}; }",
  '{',
  '  entry ota-fixture 33188 "initramfs for $last"',
  '  case " $* " in *" --add ostree "*) entry usr/lib/ostree/ostree-prepare-root 33261 "#!/bin/sh" ;; esac',
  "  for m in $(cd \"$kmoddir\" && find . -name '*.ko' | sort); do entry \"usr/lib/modules/$last/${m#./}\" 33188 module; done",
  "  entry 'TRAILER!!!' 0 ''",
  '} > "$out"',
  '',
].join('\n');

/** `modules`: the kernel's loadable modules, under /usr/lib/modules/$kver (default: ext4). */
export const boardPackages = (arch: string, kver: string, options: { modules?: string[] } = {}): FixturePackage[] => [
  {
    name: 'fx-linux', version: kver, arch, depends: 'initramfs-tools | linux-initramfs-tool',
    files: {
      [`/boot/vmlinuz-${kver}`]: `kernel ${kver}\n`,
      [`/usr/lib/modules/${kver}/modules.dep`]: '',
      // Debian keeps device trees here; the build links them as usr/lib/modules/$kver/dtb
      [`/usr/lib/linux-image-${kver}/fx/fxboard.dtb`]: `device tree for ${kver}\n`,
      ...Object.fromEntries((options.modules ?? ['kernel/fs/ext4/ext4.ko']).map((m) => [`/usr/lib/modules/${kver}/${m}`, 'module\n'])),
    },
    scripts: { postinst: `#!/bin/sh\nset -e\n[ "$1" = configure ] || exit 0\necho "INITRD=\${INITRD:-}" > /var/lib/fx-linux-postinst\n` },
  },
  { name: 'initramfs-tools', version: '9999', arch: 'all', files: { '/usr/share/initramfs-tools/marker': 'not wanted\n' } },
  {
    // Depends on the stand-in systemd: `ota lock` refuses a board image without systemd, and the
    // tests' images take their init from here rather than listing it in every manifest.
    name: 'dracut', version: '9999', arch, provides: 'linux-initramfs-tool', depends: 'systemd',
    files: { '/usr/bin/dracut': DRACUT },
  },
  { name: 'systemd', version: '9999', arch, files: { '/usr/lib/systemd/ota-fixture-systemd': 'stand-in\n' } },
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

