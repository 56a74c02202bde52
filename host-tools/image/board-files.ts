import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import type { Board } from '../board/schema.js';
import { resolveInside } from './inside-root.js';

/**
 * Where a file a board installs on a partition comes from: `board:NAME` is in the board's folder,
 * `dtb:PATH` is a device tree of the deployed kernel (`usr/lib/modules/$kver/dtb/PATH`, whatever
 * the kernel's version: the Raspberry Pi firmware wants its board's tree on the boot partition),
 * anything else is a path of the deployed tree (from the board's own packages). A missing one is
 * an error naming it, before any partition is written. Links are followed inside the image (or
 * the board's folder), never out to the build host.
 *
 * @example
 * const from = boardFileSource(board, boardDir, deployed, '/usr/lib/u-boot/rpi_4/u-boot.bin');
 */
export function boardFileSource(board: Board, boardDir: string, deployed: string, from: string): string {
  if (from.startsWith('dtb:')) return deviceTree(board, deployed, from.slice('dtb:'.length), `installs ${from}`);
  const path = from.startsWith('board:') ? resolveInside(boardDir, from.slice('board:'.length)) : resolveInside(deployed, from);
  if (!path) throw new OtaError('ERR_OTA_BOARD', `${board.name} installs ${from}, which the image does not have`, { hint: "is the package that ships it in the board's packages?" });
  return path;
}

/** Refuses a deployment whose kernel lacks one of the board's `kernel.devicetrees`. */
export function checkDeviceTrees(board: Board, deployed: string): void {
  for (const dt of board.kernel.devicetrees) deviceTree(board, deployed, dt, 'needs the device tree');
}

/** `PATH` in the dtb/ of the deployment's kernel (the first by name, the one libostree boots). */
function deviceTree(board: Board, deployed: string, path: string, what: string): string {
  const modules = join(deployed, 'usr/lib/modules');
  const kernels = existsSync(modules) ? readdirSync(modules).filter((k) => existsSync(join(modules, k, 'vmlinuz'))).sort() : [];
  const found = kernels.length > 0 ? resolveInside(deployed, `usr/lib/modules/${kernels[0]!}/dtb/${path}`) : undefined;
  if (!found) {
    throw new OtaError('ERR_OTA_BOARD', `${board.name} ${what} ${path}, which ${kernels[0] ? `kernel ${kernels[0]} does not have in usr/lib/modules/${kernels[0]}/dtb` : 'the image does not have: it has no kernel'}`, {
      hint: "check the path against the kernel package's /usr/lib/linux-image-<version>/ (vendor folders such as broadcom/ included)",
    });
  }
  return found;
}
