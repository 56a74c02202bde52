import { z } from 'zod';
import { ARCHES } from '../manifest/schema.js';

/**
 * A board definition (`boards/<name>/board.yaml`): what turns an image's tree into something a
 * given board boots. The kernel, firmware and bootloader come from the board's own packages
 * (locked beside the image's, composed as a layer, so one rootfs serves several boards and a
 * kernel bump rebuilds only that layer); the disk layout and the bootloader's environment say
 * where `ota image` puts things and where the device agent counts boots. Every object is strict.
 *
 * @example
 * name: qemu-arm64
 * arch: arm64
 * kernel: { packages: [linux-image-arm64], args: [rootwait, panic=5], console: ttyAMA0 }
 * bootloader: { type: uboot, packages: [u-boot-qemu], env: { kind: text-file, partition: boot, path: ota.env } }
 * disk: { table: gpt, partitions: [{ label: boot, fs: vfat, size: 64MiB, role: boot }, { label: root, fs: ext4, size: rest, role: root }] }
 */
const name = z.string().regex(/^[a-z0-9][a-z0-9._+-]*$/, 'lowercase letters, digits, ".", "_", "+" and "-"');
const packageName = z.string().regex(/^[a-z0-9][a-z0-9.+-]*$/, 'a Debian package name');
/** `64MiB`, `1GiB`, `512KiB`, a byte count, or `rest` (the last partition only). */
export const SIZE = /^(\d+)(KiB|MiB|GiB)?$|^rest$/;
const size = z.string().regex(SIZE, 'a size such as 64MiB or 2GiB, or `rest` for the last partition');
/** A path inside a package or on a partition: relative, no `..`. */
const relPath = z.string().regex(/^(?!\/)(?!.*(^|\/)\.\.(\/|$)).+$/, 'a relative path without ".."');
const absPath = z.string().regex(/^\/(?!.*(^|\/)\.\.(\/|$)).*$/, 'an absolute path without ".."');
/** A path of the image, `board:PATH` in the board's folder or `dtb:PATH` of the kernel's device trees; never leaving them. */
const installFrom = z.string().regex(/^(?!.*(^|\/|:)\.\.(\/|$))(\/|board:(?!\/)|dtb:(?!\/))./, 'an absolute path of the image, board:PATH or dtb:PATH (relative), without ".."');

const partition = z.strictObject({
  label: z.string().regex(/^[A-Za-z0-9_-]{1,11}$/, 'up to 11 letters, digits, "_" or "-" (a vfat label fits)'),
  fs: z.enum(['vfat', 'ext4']),
  size,
  /** boot: bootloader files and its env (vfat); root: the OSTree sysroot; esp: an EFI system partition; firmware: files the SoC's ROM reads. */
  role: z.enum(['boot', 'root', 'esp', 'firmware']),
});

/** Where the bootloader keeps its boot-counting state. */
const ubootEnv = z.discriminatedUnion('kind', [
  /** `name=value` lines read with `env import -t`, written with `fatwrite`: works wherever U-Boot can write the vfat boot partition. */
  z.strictObject({ kind: z.literal('text-file'), partition: z.string(), path: relPath }),
  /** U-Boot's binary env in a file on a partition (CONFIG_ENV_IS_IN_FAT). */
  z.strictObject({ kind: z.literal('file'), partition: z.string(), path: relPath, size: z.number().int().positive(), redundant: z.boolean().default(false) }),
  /** U-Boot's binary env at raw offsets of the disk (CONFIG_ENV_IS_IN_MMC), as fw_env.config gives them. */
  z.strictObject({ kind: z.literal('raw'), offset: z.number().int().nonnegative(), redundantOffset: z.number().int().nonnegative().optional(), size: z.number().int().positive() }),
]);

const bootlimit = z.number().int().min(1).max(10).default(3);

const bootloader = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('uboot'),
    packages: z.array(packageName).min(1),
    /** Files from the bootloader packages copied to partitions: `{ from: /usr/lib/u-boot/rpi_arm64/u-boot.bin, partition: boot, to: u-boot.bin }`. */
    install: z.array(z.strictObject({ from: absPath, partition: z.string(), to: relPath })).default([]),
    /** Files written at raw byte offsets of the disk (SPL and U-Boot proper on some SoCs). */
    raw: z.array(z.strictObject({ from: absPath, offset: z.number().int().nonnegative() })).default([]),
    env: ubootEnv,
    bootlimit,
    /** U-Boot's names for the boot and root partitions in the boot script: interface and device:partition. */
    device: z.strictObject({ interface: z.string(), boot: z.string(), root: z.string() }),
  }),
  z.strictObject({
    type: z.literal('grub-efi'),
    packages: z.array(packageName).min(1),
    /** grubenv on the ESP, relative to it. */
    env: z.strictObject({ partition: z.string(), path: relPath }),
    bootlimit,
  }),
]);

export const boardSchema = z.strictObject({
  name,
  arch: z.enum(ARCHES),
  description: z.string().min(1),
  kernel: z.strictObject({
    packages: z.array(packageName).min(1),
    /** Kernel arguments besides root= and ostree=, which `ota image` and OSTree add. */
    args: z.array(z.string().min(1)).default([]),
    /** The serial console, as console= takes it (`ttyAMA0`, `ttyS0,115200`). */
    console: z.string().min(1),
    /**
     * Device trees the board needs, relative to the kernel's dtb directory
     * (`broadcom/bcm2711-rpi-4-b.dtb`): `ota image` refuses a kernel without them; an install
     * entry `from: dtb:PATH` copies one to a partition. None for ACPI/EFI machines.
     */
    devicetrees: z.array(relPath).default([]),
    /** How the initramfs is made: dracut with Debian's ostree module (ostree-boot). */
    initramfs: z.enum(['dracut']).default('dracut'),
    /**
     * Kernel modules the initramfs needs to find the root device (`virtio_blk`, `sdhci_iproc`);
     * `ota build` refuses an initramfs that lacks one (or the root file system's) unless the
     * kernel has it built in.
     */
    rootModules: z.array(z.string().regex(/^[A-Za-z0-9_-]+$/, 'a module name such as virtio_blk')).default([]),
  }),
  firmware: z.strictObject({
    packages: z.array(packageName).default([]),
    /** Files copied to partitions: paths of the image (the firmware packages'), `board:config.txt` from the board folder, `dtb:PATH` from the kernel's device trees. */
    install: z.array(z.strictObject({ from: installFrom, partition: z.string(), to: relPath })).default([]),
    /** Archive components the firmware packages need besides the image's (Debian's `non-free-firmware`). */
    components: z.array(z.string().min(1)).default([]),
  }).default({ packages: [], install: [], components: [] }),
  bootloader,
  disk: z.strictObject({
    table: z.enum(['gpt', 'mbr']),
    /** Space before the first partition (raw bootloader writes go here). */
    firstOffset: size.default('1MiB'),
    partitions: z.array(partition).min(1),
  }),
  /** How tests and `scripts/e2e-boot` run the board under qemu-system. */
  qemu: z.strictObject({
    system: z.string().min(1),
    machine: z.string().min(1),
    cpu: z.string().min(1).optional(),
    memoryMiB: z.number().int().min(128).default(1024),
    /** The firmware qemu starts (`-bios`), from the bootloader packages. */
    firmware: absPath,
  }).optional(),
});

export type Board = z.infer<typeof boardSchema>;
