import { OtaError } from '../../common/errors.js';
import { parseSize } from '../board/load.js';
import type { Board } from '../board/schema.js';

/**
 * Where every partition of a board's disk image goes, as data (docs/conventions.md, "Plan as data"): 1 MiB-aligned
 * starts, the root partition taking what is left, the partition table as an sfdisk script.
 * `ota image` executes it; tests check it without touching a disk.
 *
 * @example
 * const plan = planDisk(board, { totalBytes: 2 * 1024 ** 3 });
 * plan.partitions.find((p) => p.role === 'root')!.offsetBytes;
 */
export const SECTOR = 512;
const MIB = 1024 * 1024;
/** GPT keeps a backup table in the last 33 sectors: leave the last MiB alone. */
const TAIL = MIB;

export interface PlannedPartition {
  label: string;
  fs: 'vfat' | 'ext4';
  role: 'boot' | 'root' | 'esp' | 'firmware';
  /** 1-based, as U-Boot and the kernel number them. */
  number: number;
  offsetBytes: number;
  sizeBytes: number;
}

export interface DiskPlan {
  table: 'gpt' | 'mbr';
  totalBytes: number;
  partitions: PlannedPartition[];
  /** Input for `sfdisk` on the image file. */
  sfdiskScript: string;
}

/** A size for the root partition when none is given: room for the tree twice (an update beside it) and some slack. */
export function defaultRootBytes(treeBytes: number): number {
  return alignUp(Math.max(512 * MIB, treeBytes * 2.2 + 256 * MIB), MIB);
}

export function planDisk(board: Board, options: { totalBytes?: number; treeBytes?: number }): DiskPlan {
  const first = parseSize(board.disk.firstOffset) ?? MIB;
  const fixed = board.disk.partitions.map((p) => parseSize(p.size));
  const fixedSum = fixed.reduce<number>((a, b) => a + alignUp(b ?? 0, MIB), 0);
  const restIndex = fixed.findIndex((s) => s === undefined);
  const wantedRest = defaultRootBytes(options.treeBytes ?? 0);
  const totalBytes = options.totalBytes ?? alignUp(first, MIB) + fixedSum + (restIndex >= 0 ? wantedRest : 0) + TAIL;
  let offset = alignUp(first, MIB);
  const partitions: PlannedPartition[] = board.disk.partitions.map((p, i) => {
    const size = fixed[i] !== undefined ? alignUp(fixed[i]!, MIB) : alignDown(totalBytes - TAIL - offset, MIB);
    const part = { label: p.label, fs: p.fs, role: p.role, number: i + 1, offsetBytes: offset, sizeBytes: size };
    offset += size;
    return part;
  });
  const root = partitions.find((p) => p.role === 'root')!;
  if (offset + TAIL > totalBytes || partitions.some((p) => p.sizeBytes < MIB)) {
    throw new OtaError('ERR_OTA_USAGE', `a ${formatMiB(totalBytes)} disk cannot hold ${board.name}'s partitions (${board.disk.partitions.map((p) => `${p.label} ${p.size}`).join(', ')})`, {
      hint: `give a larger --size (at least ${formatMiB(offset + TAIL + MIB)})`,
    });
  }
  if (options.treeBytes && root.sizeBytes < options.treeBytes * 1.1) {
    throw new OtaError('ERR_OTA_USAGE', `the root partition (${formatMiB(root.sizeBytes)}) is too small for a ${formatMiB(options.treeBytes)} tree`, {
      hint: `give a larger --size (about ${formatMiB(totalBytes - root.sizeBytes + defaultRootBytes(options.treeBytes))})`,
    });
  }
  return { table: board.disk.table, totalBytes, partitions, sfdiskScript: sfdiskScript(board.disk.table, partitions) };
}

function sfdiskScript(table: 'gpt' | 'mbr', parts: PlannedPartition[]): string {
  const lines = [`label: ${table === 'gpt' ? 'gpt' : 'dos'}`, 'unit: sectors', ''];
  for (const p of parts) {
    const fields = [`start=${p.offsetBytes / SECTOR}`, `size=${p.sizeBytes / SECTOR}`, `type=${partitionType(table, p)}`];
    if (table === 'gpt') fields.push(`name="${p.label}"`);
    else if (p.role === 'boot' || p.role === 'esp') fields.push('bootable');
    lines.push(fields.join(', '));
  }
  return `${lines.join('\n')}\n`;
}

/** sfdisk's type aliases (GPT) or MBR ids: an ESP is an ESP, other FAT is basic data, ext4 is Linux. */
function partitionType(table: 'gpt' | 'mbr', p: PlannedPartition): string {
  if (table === 'gpt') return p.role === 'esp' ? 'uefi' : p.fs === 'vfat' ? 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7' : 'linux';
  return p.role === 'esp' ? 'ef' : p.fs === 'vfat' ? 'c' : '83';
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function alignDown(n: number, a: number): number {
  return Math.floor(n / a) * a;
}

export function formatMiB(n: number): string {
  return n >= 1024 * MIB ? `${(n / 1024 / MIB).toFixed(1)} GiB` : `${Math.round(n / MIB)} MiB`;
}
