import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OtaError } from '../../common/errors.js';
import { editDistance, parseStrictYaml } from '../../common/strict-yaml.js';
import { boardSchema, SIZE, type Board } from './schema.js';

/**
 * Finds and checks a board definition: by name in `boards/` (the repository's, or another
 * folder) or by path. Beyond the schema it checks what ties the parts together: one root
 * partition, labels unique, `rest` only last, every partition a file goes to exists and can
 * hold it, and the bootloader fits the architecture.
 *
 * @example
 * const { board, dir } = await loadBoard('qemu-arm64');
 * board.disk.partitions.find((p) => p.role === 'root');
 */
export interface LoadedBoard {
  board: Board;
  /** The board's folder: overlay files (`board:config.txt`) are read from here. */
  dir: string;
  /** SHA256 of board.yaml's bytes: a lock records it, and re-locks when it changes. */
  sha256: string;
}

/** The repository's boards/ (from dist/host-tools/board or host-tools/board). */
export function defaultBoardsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../..', '../..']) {
    const d = join(here, up, 'boards');
    if (existsSync(d)) return d;
  }
  return join(here, '../../boards');
}

export async function listBoards(boardsDir = defaultBoardsDir()): Promise<string[]> {
  const names = await readdir(boardsDir).catch(() => [] as string[]);
  return names.filter((n) => existsSync(join(boardsDir, n, 'board.yaml'))).sort();
}

export async function loadBoard(nameOrPath: string, boardsDir = defaultBoardsDir()): Promise<LoadedBoard> {
  const byPath = nameOrPath.includes('/') || nameOrPath.endsWith('.yaml');
  const file = byPath ? nameOrPath : join(boardsDir, nameOrPath, 'board.yaml');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    const known = await listBoards(boardsDir);
    const close = known.filter((k) => editDistance(k, nameOrPath) <= 3);
    throw new OtaError('ERR_OTA_BOARD', byPath ? `cannot read board definition ${file}` : `no board named ${nameOrPath} in ${boardsDir}${close.length ? `; did you mean ${close[0]}?` : ''}`, {
      hint: `boards here: ${known.join(', ') || '(none)'}; or give the path of a board.yaml`,
    });
  }
  const board = parseBoard(text, file);
  const dir = dirname(file);
  if (!byPath && board.name !== nameOrPath) throw new OtaError('ERR_OTA_BOARD', `${file} names itself ${board.name}, but its folder is ${basename(dir)}`, { hint: 'make the name and the folder agree' });
  return { board, dir, sha256: createHash('sha256').update(text).digest('hex') };
}

/** Parses and checks board.yaml text; `where` names it in errors. */
export function parseBoard(text: string, where: string): Board {
  const board = parseStrictYaml(text, where, boardSchema, { code: 'ERR_OTA_BOARD', hint: 'see docs/boards.md for the board definition (and boards/qemu-arm64/board.yaml for an example)' });
  const problems = checkBoard(board);
  if (problems.length > 0) throw new OtaError('ERR_OTA_BOARD', `${where}: ${problems[0]}`, { details: problems.slice(1), hint: 'see docs/boards.md for the board definition (and boards/qemu-arm64/board.yaml for an example)' });
  return board;
}

/** The cross-field rules, as a list of problems (empty when the board is consistent). */
export function checkBoard(board: Board): string[] {
  const problems: string[] = [];
  const parts = board.disk.partitions;
  const byLabel = new Map(parts.map((p) => [p.label, p]));
  if (byLabel.size !== parts.length) problems.push('disk.partitions: two partitions share a label');
  const roots = parts.filter((p) => p.role === 'root');
  if (roots.length !== 1) problems.push(`disk.partitions: need exactly one partition with role root, found ${roots.length}`);
  if (roots[0] && roots[0].fs !== 'ext4') problems.push(`disk.partitions: the root partition must be ext4 (OSTree's /boot needs symlinks), not ${roots[0].fs}`);
  parts.forEach((p, i) => {
    if (p.size === 'rest' && i !== parts.length - 1) problems.push(`disk.partitions[${i}] (${p.label}): only the last partition can take the rest of the disk`);
  });
  const needs = (where: string, label: string, fs?: 'vfat' | 'ext4') => {
    const p = byLabel.get(label);
    if (!p) problems.push(`${where}: no partition labelled ${label} (partitions: ${parts.map((x) => x.label).join(', ')})`);
    else if (fs && p.fs !== fs) problems.push(`${where}: partition ${label} is ${p.fs}, but this needs ${fs}`);
  };
  const bl = board.bootloader;
  if (bl.type === 'uboot') {
    // The boot script counts in a text file it reads and writes with fatload/fatwrite. Counting
    // in U-Boot's own binary env needs `saveenv`, whose writes cannot be exercised here (qemu's
    // flash emulation times them out), so no boot script uses it yet; the codecs exist.
    if (bl.env.kind !== 'text-file') problems.push(`bootloader.env.kind: ${bl.env.kind} (U-Boot's binary environment) is not supported by ota's boot script yet; use { kind: text-file, partition: <the vfat boot partition>, path: ota.env }`);
    else needs('bootloader.env.partition', bl.env.partition, 'vfat');
    bl.install.forEach((f, i) => needs(`bootloader.install[${i}].partition`, f.partition));
  } else {
    needs('bootloader.env.partition', bl.env.partition, 'vfat');
    if (!parts.some((p) => p.role === 'esp')) problems.push('bootloader: grub-efi needs a partition with role esp');
    if (board.arch === 'armhf') problems.push('bootloader: grub-efi is for amd64 and arm64 boards; armhf boards use uboot');
  }
  board.firmware.install.forEach((f, i) => needs(`firmware.install[${i}].partition`, f.partition));
  return problems;
}

/** Bytes of a size such as `64MiB`; undefined for `rest`. */
export function parseSize(text: string): number | undefined {
  if (text === 'rest') return undefined;
  const m = SIZE.exec(text);
  if (!m) throw new Error(`size ${text} passed the schema but does not parse, this is a bug`);
  const unit = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}
