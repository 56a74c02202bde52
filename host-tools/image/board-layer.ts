import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { OtaError } from '../../common/errors.js';
import type { Board } from '../board/schema.js';
import { GRUB_DIR_ON_ESP, grubLocations } from './grub-efi.js';

/**
 * What `ota image` writes into each deployment's /etc so that a booted agent reaches its
 * bootloader with no hand-written configuration (docs/agent.md, "The board layer"):
 *
 * - an /etc/fstab line that mounts the partition holding the boot-counting env (U-Boot's ota.env
 *   on the boot partition, GRUB's grubenv and grub.cfg on the ESP) at /boot/efi, by the vfat
 *   volume id ota image gave it, so no other disk's partition of the same label is taken;
 * - `/etc/ota/agent.d/00-board.yaml`: the board's name, OSTree's stateroot (`osname`: an update
 *   staged into another one cannot be finalized, its /var is not there), and the `bootloader` block, with the
 *   paths under that mount (and for GRUB, where GRUB finds the env and OSTree's /boot at boot,
 *   as the grub.cfg ota image rendered says), under the provisioning layer and any later drop-in.
 *
 * The plan is data; writing it is a loop.
 *
 * @example
 * const plan = planBoardLayer(board, { rootUuid, volumeId: 'a1b2c3d4', osname: 'gateway' });
 * await writeBoardLayer(deployedRoot, plan);
 */
export const BOOT_MOUNT = '/boot/efi';
export const BOARD_LAYER_PATH = '/etc/ota/agent.d/00-board.yaml';

export interface BoardLayerInputs {
  /** The root file system's UUID (OSTree's /boot, as GRUB searches for it). */
  rootUuid: string;
  /** The mounted partition's vfat volume id, 8 hex digits (`mkfs.vfat -i`). */
  volumeId: string;
  /** OSTree's stateroot the image's deployments belong to: the agent must deploy updates into it. */
  osname: string;
}

export interface BoardLayerPlan {
  /** The partition mounted at /boot/efi (its board.yaml label). */
  partition: string;
  /** The line added to /etc/fstab. */
  fstabLine: string;
  /** The agent's layer, as data and as the file's text. */
  layer: Record<string, unknown>;
  layerText: string;
}

/** The volume id as blkid and /dev/disk/by-uuid spell it: `A1B2-C3D4`. */
export function vfatUuid(volumeId: string): string {
  if (!/^[0-9a-fA-F]{8}$/.test(volumeId)) throw new Error(`vfat volume id ${volumeId} is not 8 hex digits, this is a bug`);
  const v = volumeId.toUpperCase();
  return `${v.slice(0, 4)}-${v.slice(4)}`;
}

/** The partition holding the env, and the agent's bootloader block with paths under the mount. */
function bootloaderBlock(board: Board, rootUuid: string): { partition: string; block: Record<string, unknown> } {
  const bl = board.bootloader;
  if (bl.type === 'uboot') {
    if (bl.env.kind !== 'text-file') throw new Error(`${board.name}: checkBoard refuses U-Boot's binary env kinds, this is a bug`);
    return { partition: bl.env.partition, block: { kind: 'uboot', envPath: `${BOOT_MOUNT}/${bl.env.path}`, bootlimit: bl.bootlimit } };
  }
  const esp = board.disk.partitions.find((p) => p.role === 'esp');
  if (!esp || esp.label !== bl.env.partition) {
    throw new OtaError('ERR_OTA_BOARD', `${board.name} keeps its grubenv on partition ${bl.env.partition}, not on the ESP with grub.cfg, and ota image mounts one partition for the agent`, { hint: "put bootloader.env on the ESP in the board's board.yaml" });
  }
  const { env, boot } = grubLocations(board, rootUuid);
  return {
    partition: esp.label,
    block: { kind: 'grub', envPath: `${BOOT_MOUNT}/${bl.env.path}`, configPath: `${BOOT_MOUNT}/${GRUB_DIR_ON_ESP}/grub.cfg`, envLocation: env, bootLocation: boot, bootlimit: bl.bootlimit },
  };
}

/** The mount and the agent's board layer for `board` (see the file comment). */
export function planBoardLayer(board: Board, inputs: BoardLayerInputs): BoardLayerPlan {
  const { partition, block } = bootloaderBlock(board, inputs.rootUuid);
  const layer = { board: board.name, osname: inputs.osname, bootloader: block };
  // pass 0: the image holds no fsck.vfat; no nofail: an agent without its env cannot count boots;
  // 5 min for udev to name the partition: past 30 s on an emulated board under load
  const fstabLine = `UUID=${vfatUuid(inputs.volumeId)} ${BOOT_MOUNT} vfat umask=0077,x-systemd.device-timeout=5min 0 0`;
  const layerText = `# Written by ota image: the board, and its bootloader as the booted agent reaches it (docs/agent.md, "The board layer").\n${stringify(layer)}`;
  return { partition, fstabLine, layer, layerText };
}

const FSTAB_COMMENT = '# the boot-counting env for ota-agent, added by ota image';

/** /etc/fstab with the mount added, or replacing an earlier line for the same mount point. */
export function withBootMount(fstab: string, line: string): string {
  const ours = (l: string) => l === FSTAB_COMMENT || (!l.trim().startsWith('#') && l.trim().split(/\s+/)[1] === BOOT_MOUNT);
  const kept = fstab.split('\n').filter((l) => !ours(l));
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  return `${[...kept, FSTAB_COMMENT, line].join('\n')}\n`;
}

/** Writes the fstab line and the layer under `root` (a deployment's root), atomically. */
export async function writeBoardLayer(root: string, plan: BoardLayerPlan): Promise<void> {
  const fstab = join(root, 'etc/fstab');
  const before = await readFile(fstab, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw e;
  });
  await writeFileAtomic(fstab, withBootMount(before, plan.fstabLine), 0o644);
  const layer = join(root, BOARD_LAYER_PATH);
  await writeFileAtomic(layer, plan.layerText, 0o644);
  await chmod(layer, 0o644);
}
