/**
 * What differs between the bootloaders the e2e scenario (scenario.ts) drives: U-Boot boards
 * (boot.scr counting in the text env ota.env, OSTree's uEnv.txt) and GRUB EFI boards (grub.cfg
 * counting in grubenv, OSTree's BLS entries). Everything else (the images, the boots, the
 * claims) is the same, in boot-e2e.ts and scenario.ts.
 *
 * @example
 * const bl = e2eBootloader((await loadBoard('qemu-arm64')).board);
 * const entries = await bl.diskEntries(disk, '/tmp/e2e');
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../common/exec.js';
import type { BootloaderBackend } from '../../bootloader/backend.js';
import { readOstreeBlsEntries } from '../../bootloader/grub/bls.js';
import { grubBackend } from '../../bootloader/grub/backend.js';
import { parseGrubEnv } from '../../bootloader/grub/env.js';
import { ubootBackend } from '../../bootloader/uboot/backend.js';
import { backupEnvPath } from '../../bootloader/uboot/env-copies.js';
import { parseUbootEnvText } from '../../bootloader/uboot/env-text.js';
import type { Board } from '../../host-tools/board/schema.js';
import type { ImageResult } from '../../host-tools/image/disk-image.js';

/** The kernel's command line as it prints it early on. */
export const CMDLINE = /Kernel command line: (.*)$/m;
/**
 * The disk is scratch, read between boots with mtools and debugfs: the guest's flushes need not
 * reach the host's disk (ostree syncs each deploy and finalize), only its page cache, where qemu
 * writes at once. On a busy host each flush would wait on everyone's I/O.
 */
const SCRATCH_CACHE = 'cache=unsafe';

/** One entry a bootloader started: OSTree's entry number (-1: not one of the disk's) and its kernel. */
export interface BootedEntry {
  entry: number;
  /** As the boot entries name it, `/boot/ostree/<os>-<bootcsum>/vmlinuz-<version>`. */
  kernel: string;
}

/** One of OSTree's boot entries on a disk, in OSTree's order (0: the default deployment). */
export interface DiskEntry {
  /** `/boot/ostree/<os>-<bootcsum>/vmlinuz-<version>`. */
  kernel: string;
  /** The BLS title (GRUB's menu entry title), for GRUB boards. */
  title?: string;
}

/** What both counting scripts (U-Boot's boot.scr, GRUB's grub.cfg) print on the boot that goes past bootlimit. */
export function rollbackLine(bootcount: number, bootlimit: number): string {
  return `ota: boot ${bootcount} is past bootlimit ${bootlimit}: falling back to the previous deployment`;
}

/**
 * What differs between the bootloaders the scenario drives; everything else (the images, the
 * boots, the claims) is the same. One per bootloader type, chosen by the board (`e2eBootloader`).
 */
export interface E2eBootloader {
  /** `U-Boot` or `GRUB`, in step names and checks. */
  name: string;
  /** What it runs that counts and picks the entry: ota image's `boot.scr`, or its `grub.cfg`. */
  script: string;
  /** The env's name in messages: `ota.env`, `grubenv`. */
  envName: string;
  /** The env's partition label and its path there (board.yaml `bootloader.env`). */
  env: { partition: string; path: string };
  /** The host package with qemu's firmware, for the hint when it is missing. */
  firmwarePackage: string;
  /** qemu arguments that attach the raw disk where the firmware looks for it. */
  qemuDisk(image: string): string[];
  parseEnv(bytes: Buffer): Map<string, string>;
  /** The env's files on its partition, for staging: its path, and any copy the backend keeps beside it. */
  copies(path: string): string[];
  /** The agent's backend over an env file (a staged copy). */
  backend(envPath: string, bootlimit: number): BootloaderBackend;
  /** OSTree's entries on the disk, from the file the bootloader reads them from. */
  diskEntries(disk: ImageResult, scratch: string): Promise<DiskEntry[]>;
  /** The entries the console says the bootloader started. */
  bootedEntries(console: string, entries: readonly DiskEntry[]): BootedEntry[];
  /** Console lines, before Linux starts, where the bootloader or its script reported an error. */
  errors(console: string): string[];
}

/** The bootloader part of a console: up to the kernel's first line. */
function beforeLinux(console: string): string[] {
  const at = console.search(/Linux version \d/);
  return (at < 0 ? console : console.slice(0, at)).split('\n');
}

/** U-Boot boards: boot.scr counts in ota.env (a text env) and loads OSTree's uEnv.txt. */
function ubootE2e(env: { partition: string; path: string }): E2eBootloader {
  return {
    name: 'U-Boot',
    script: 'boot.scr',
    envName: 'ota.env',
    env,
    firmwarePackage: 'u-boot-qemu',
    // qemu's virt machine: virtio-mmio, which U-Boot's distro boot scans as `virtio 0`
    qemuDisk: (image) => ['-drive', `if=none,file=${image},format=raw,id=d,${SCRATCH_CACHE}`, '-device', 'virtio-blk-device,drive=d'],
    parseEnv: (bytes) => parseUbootEnvText(bytes.toString('utf8'), 'ota.env'),
    copies: (path) => [path, backupEnvPath(path)],
    backend: (envPath, bootlimit) => ubootBackend({ envPath, defaultBootlimit: bootlimit }),
    async diskEntries(disk) {
      const root = disk.plan.partitions.find((p) => p.role === 'root')!;
      const { stdout } = await run('read uEnv.txt', ['debugfs', '-R', 'cat /boot/loader/uEnv.txt', `${disk.output}?offset=${root.offsetBytes}`]);
      const uEnv = parseUbootEnvText(stdout, 'uEnv.txt');
      return ['kernel_image', 'kernel_image2'].flatMap((k) => (uEnv.has(k) ? [{ kernel: uEnv.get(k)! }] : []));
    },
    bootedEntries: (console) => [...console.matchAll(/^ota: booting OSTree entry (\d+): (\S+)/gm)].map((m) => ({ entry: Number(m[1]), kernel: m[2]! })),
    errors: (console) => beforeLinux(console).filter((l) => /^ota: (?:WARNING|cannot|no OSTree entry|OSTree entry \d+ did not boot|bootlimit .* is not)/.test(l)),
  };
}

/**
 * GRUB EFI boards: the grub.cfg ota image rendered from OSTree's BLS entries counts in grubenv.
 * GRUB prints the title of the entry it boots (`Booting \`Debian GNU/Linux 12 (bookworm) ...
 * (ostree:0)'`), which is the BLS entry's title, unique per entry; the kernel is the one GRUB's
 * `linux` passed as BOOT_IMAGE on the kernel's command line.
 */
function grubE2e(env: { partition: string; path: string }): E2eBootloader {
  return {
    name: 'GRUB',
    script: 'grub.cfg',
    envName: 'grubenv',
    env,
    firmwarePackage: 'ovmf',
    // q35: virtio-pci, which OVMF's VirtioBlkDxe drives
    qemuDisk: (image) => ['-drive', `file=${image},format=raw,if=virtio,${SCRATCH_CACHE}`],
    parseEnv: (bytes) => parseGrubEnv(bytes, 'grubenv'),
    copies: (path) => [path],
    backend: (envPath, bootlimit) => grubBackend({ envPath, defaultBootlimit: bootlimit }),
    async diskEntries(disk, scratch) {
      const root = disk.plan.partitions.find((p) => p.role === 'root')!;
      const dir = await mkdtemp(join(scratch, 'bls-'));
      try {
        await mkdir(join(dir, 'loader'));
        await run("copy OSTree's boot entries out", ['debugfs', '-R', `rdump /boot/loader/entries ${join(dir, 'loader')}`, `${disk.output}?offset=${root.offsetBytes}`]);
        return (await readOstreeBlsEntries(dir)).map((e) => ({ kernel: `/boot${e.linux.startsWith('/') ? '' : '/'}${e.linux}`, title: e.title }));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    bootedEntries(console, entries) {
      const titles = [...console.matchAll(/Booting `([^'\n]*)'/g)].map((m) => m[1]!);
      const bootImage = /^BOOT_IMAGE=(\S+)/.exec(CMDLINE.exec(console)?.[1] ?? '')?.[1] ?? '';
      // only the last entry GRUB started got as far as the kernel
      return titles.map((t, i) => ({ entry: entries.findIndex((e) => e.title === t), kernel: i === titles.length - 1 ? bootImage : '' }));
    },
    errors: (console) => beforeLinux(console).filter((l) => /\berror: |Unknown command|Failed to boot/.test(l)),
  };
}

/** The board's bootloader as the scenario drives it. */
export function e2eBootloader(board: Board): E2eBootloader {
  const bl = board.bootloader;
  if (bl.type === 'grub-efi') return grubE2e(bl.env);
  if (bl.env.kind !== 'text-file') throw new Error(`${board.name}: checkBoard refuses U-Boot's binary env kinds, this is a bug`);
  return ubootE2e(bl.env);
}
