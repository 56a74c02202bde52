/**
 * What `ota image` puts on a GRUB EFI board's EFI system partition, from the deployed sysroot:
 *
 * - `EFI/BOOT/BOOTX64.EFI` (BOOTAA64.EFI on arm64): GRUB made by the build host's `grub-mkimage`
 *   from the modules of the image's own GRUB (`/usr/lib/grub/x86_64-efi` of the deployed tree, from
 *   the board's `bootloader.packages`), with every module the configs below use built in, so it
 *   needs no module directory on the ESP. The removable-media path is what UEFI firmware (OVMF
 *   too) boots from a disk with no NVRAM boot entries, as a freshly flashed disk has.
 * - its embedded early config: the prefix has no device, so GRUB's `root` starts as the partition
 *   the firmware loaded it from, i.e. this ESP (other disks are searched for the file only if it
 *   lacks it); then `configfile` of `EFI/ota/grub.cfg`.
 * - `EFI/ota/grub.cfg`: OSTree's BLS entries (sysroot /boot/loader/entries) rendered by
 *   bootloader/grub/config.ts, finding OSTree's /boot on the root file system by its UUID, and
 *   the grubenv on the ESP (GRUB's `root` when grub.cfg starts) or on the board's env partition.
 * - the grubenv (board.yaml `bootloader.env.path`): the initial boot state, nothing pending.
 *
 * OSTree itself must not write a GRUB config for these boards (`sysroot.bootloader=none`): its
 * grub2 backend runs grub2-mkconfig, and Debian's GRUB has no `blscfg` to read the entries itself.
 *
 * @example
 * const files = await grubEfiBootFiles({ board, boardDir, deployed, bootDir: join(sysroot, 'boot'), rootUuid, staging });
 * // Map { 'esp' => [{ from: '.../grub.efi', to: 'EFI/BOOT/BOOTX64.EFI' }, { ..., to: 'EFI/ota/grub.cfg' }, { ..., to: 'EFI/ota/grubenv' }] }
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { readOstreeBlsEntries, type BlsEntry } from '../../bootloader/grub/bls.js';
import { renderGrubConfig, type GrubLocation } from '../../bootloader/grub/config.js';
import { formatGrubEnv } from '../../bootloader/grub/env.js';
import { initialBootState } from '../../bootloader/state.js';
import { bootStateToVars } from '../../bootloader/state-vars.js';
import type { Board } from '../board/schema.js';
import { boardFileSource } from './board-files.js';

/** Where deb-ota's GRUB files live on the ESP (beside the grubenv on the reference board). */
export const GRUB_DIR_ON_ESP = 'EFI/ota';

/** GRUB's platform and the removable-media file name UEFI looks for, per architecture. */
export const EFI_TARGETS = {
  amd64: { platform: 'x86_64-efi', file: 'BOOTX64.EFI' },
  arm64: { platform: 'arm64-efi', file: 'BOOTAA64.EFI' },
} as const;

/**
 * Built into the EFI binary. What the generated grub.cfg and the early config run: `search`
 * (--fs-uuid, --label, --file), `load_env`/`save_env` (loadenv), `[` (test), `echo`, `if`/`for`/
 * `menuentry`/`set` (normal's script engine), `configfile`, `linux`/`initrd` and the implicit
 * `boot`; the partition tables and file systems ota image makes (part_gpt/part_msdos, fat, ext2);
 * the EFI video drivers, so Linux gets a framebuffer where there is one (GRUB warns without them).
 * grub-mkimage adds what these need (moddep.lst). test/host-tools/image/grub-efi.int.test.ts checks
 * every command the configs use against the image's command.lst.
 */
export const GRUB_EFI_MODULES = [
  'part_gpt', 'part_msdos', 'fat', 'ext2',
  'normal', 'configfile', 'search', 'search_fs_uuid', 'search_fs_file', 'search_label',
  'loadenv', 'test', 'echo', 'linux', 'boot', 'all_video',
] as const;

export interface GrubEfiInputs {
  /** OSTree's boot entries, in OSTree's order (bls.ts). */
  entries: readonly BlsEntry[];
  /** UUID of the root file system, which holds OSTree's /boot. */
  rootUuid: string;
}

export interface GrubEfiFile {
  /** Partition label in board.yaml. */
  partition: string;
  /** Path on that partition. */
  to: string;
}

/** Everything to make and where it goes, without touching the disk. */
export interface GrubEfiPlan {
  platform: (typeof EFI_TARGETS)[keyof typeof EFI_TARGETS]['platform'];
  /** Where the image's GRUB modules are, relative to the deployed tree. */
  moduleDir: string;
  modules: readonly string[];
  /** grub-mkimage `-p`: a path without a device, so GRUB's root is the partition it was loaded from. */
  prefix: string;
  binary: GrubEfiFile;
  earlyConfig: string;
  config: GrubEfiFile & { text: string };
  env: GrubEfiFile & { bytes: Buffer };
}

/**
 * Where GRUB finds the grubenv and OSTree's /boot at boot: what grub.cfg says, and what the
 * agent renders it with again after each deploy (host-tools/image/board-layer.ts).
 */
export function grubLocations(board: Board, rootUuid: string): { env: GrubLocation; boot: GrubLocation } {
  const bl = board.bootloader;
  if (bl.type !== 'grub-efi') throw new Error(`grubLocations: ${board.name} boots with ${bl.type}, this is a bug`);
  const esp = board.disk.partitions.find((p) => p.role === 'esp');
  const envPart = board.disk.partitions.find((p) => p.label === bl.env.partition);
  if (!envPart) throw new OtaError('ERR_OTA_BOARD', `${board.name} keeps its grubenv on partition ${bl.env.partition}, which disk.partitions does not have`);
  // On the ESP: GRUB's root while grub.cfg runs (the early config sets it). Elsewhere: by label,
  // as mkfs.vfat writes it (upper case) or as mke2fs does.
  const env: GrubLocation = envPart === esp ? { path: `/${bl.env.path}` } : { label: envPart.fs === 'vfat' ? envPart.label.toUpperCase() : envPart.label, path: `/${bl.env.path}` };
  return { env, boot: { uuid: rootUuid, path: '/boot' } };
}

/** The ESP's files for `board` as data (see the file comment). */
export function planGrubEfi(board: Board, inputs: GrubEfiInputs): GrubEfiPlan {
  const bl = board.bootloader;
  if (bl.type !== 'grub-efi') throw new Error(`planGrubEfi: ${board.name} boots with ${bl.type}, this is a bug`);
  const target = board.arch === 'amd64' || board.arch === 'arm64' ? EFI_TARGETS[board.arch] : undefined;
  if (!target) throw new OtaError('ERR_OTA_BOARD', `GRUB EFI images are made for amd64 and arm64 boards; ${board.name} is ${board.arch}`, { hint: 'armhf boards boot with U-Boot (bootloader.type: uboot)' });
  const esp = board.disk.partitions.find((p) => p.role === 'esp');
  if (!esp) throw new OtaError('ERR_OTA_BOARD', `${board.name} boots with GRUB EFI but has no partition with role esp`, { hint: 'add one to disk.partitions in its board.yaml' });
  const { env, boot } = grubLocations(board, inputs.rootUuid);
  const envPart = board.disk.partitions.find((p) => p.label === bl.env.partition)!;
  const configPath = `${GRUB_DIR_ON_ESP}/grub.cfg`;
  const text = renderGrubConfig(inputs.entries, { env, boot, defaultBootlimit: bl.bootlimit });
  return {
    platform: target.platform,
    moduleDir: `usr/lib/grub/${target.platform}`,
    modules: GRUB_EFI_MODULES,
    prefix: `/${GRUB_DIR_ON_ESP}`,
    binary: { partition: esp.label, to: `EFI/BOOT/${target.file}` },
    earlyConfig: earlyConfig(configPath),
    config: { partition: esp.label, to: configPath, text },
    env: { partition: envPart.label, to: bl.env.path, bytes: formatGrubEnv(bootStateToVars(initialBootState(bl.bootlimit)), bl.env.path) },
  };
}

/**
 * The config built into the EFI binary. GRUB runs it with its rescue parser (measured under
 * OVMF: `#`, `if` and `fi` are "Unknown command"), so: plain commands only, no comments. `root`
 * starts as the partition the firmware loaded the binary from (the prefix names no device);
 * `--hint` makes search try it first and look on the other disks only if it lacks grub.cfg.
 */
function earlyConfig(configPath: string): string {
  return [
    `search --no-floppy --file --set=root --hint="\${root}" /${configPath}`,
    `set prefix=(\${root})/${GRUB_DIR_ON_ESP}`,
    `configfile (\${root})/${configPath}`,
    '',
  ].join('\n');
}

export interface GrubEfiBootFilesOptions {
  board: Board;
  /** The board's folder, for firmware files given as `board:NAME`. */
  boardDir: string;
  /** The default deployment's tree (its GRUB modules, firmware files). */
  deployed: string;
  /** The sysroot's /boot (OSTree's boot entries). */
  bootDir: string;
  rootUuid: string;
  /** Scratch directory for the files to copy. */
  staging: string;
}

/** Makes the ESP's files (and the board's firmware files) in `staging`; returns them by partition label, in copy order. */
export async function grubEfiBootFiles(o: GrubEfiBootFilesOptions): Promise<Map<string, { from: string; to: string }[]>> {
  const plan = planGrubEfi(o.board, { entries: await readOstreeBlsEntries(o.bootDir), rootUuid: o.rootUuid });
  await mkdir(o.staging, { recursive: true });
  const out: (GrubEfiFile & { from: string })[] = [];
  const stage = async (f: GrubEfiFile, bytes: string | Buffer) => {
    const from = join(o.staging, f.to.replace(/\//g, '_'));
    await writeFile(from, bytes);
    out.push({ ...f, from });
  };
  await makeGrubEfiBinary(plan, o.deployed, join(o.staging, 'grub-early.cfg'), join(o.staging, 'grub.efi'));
  out.push({ ...plan.binary, from: join(o.staging, 'grub.efi') });
  await stage(plan.config, plan.config.text);
  await stage(plan.env, plan.env.bytes);
  for (const f of o.board.firmware.install) {
    out.push({ partition: f.partition, from: boardFileSource(o.board, o.boardDir, o.deployed, f.from), to: f.to });
  }
  const byPartition = new Map<string, { from: string; to: string }[]>();
  for (const { partition, from, to } of out) byPartition.set(partition, [...(byPartition.get(partition) ?? []), { from, to }]);
  return byPartition;
}

/** grub-mkimage with the image's own modules (kernel.img, moddep.lst and *.mod of the same GRUB). */
async function makeGrubEfiBinary(plan: GrubEfiPlan, deployed: string, earlyConfigFile: string, output: string): Promise<void> {
  const moduleDir = join(deployed, plan.moduleDir);
  if (!existsSync(join(moduleDir, 'kernel.img'))) {
    throw new OtaError('ERR_OTA_BOARD', `the image has no GRUB for ${plan.platform} (/${plan.moduleDir}/kernel.img), so there is nothing to boot from the ESP`, {
      hint: `put grub-efi-${plan.platform === 'x86_64-efi' ? 'amd64' : 'arm64'}-bin in the board's bootloader.packages and build the image again`,
    });
  }
  await writeFile(earlyConfigFile, plan.earlyConfig);
  await run(`make the GRUB EFI binary (grub-mkimage -O ${plan.platform})`, ['grub-mkimage', '-O', plan.platform, '-d', moduleDir, '-p', plan.prefix, '-c', earlyConfigFile, '-o', output, ...plan.modules]);
}
