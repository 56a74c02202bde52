import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import type { Board } from '../board/schema.js';

/**
 * Where a file a board installs on a partition comes from: `board:NAME` is in the board's folder,
 * anything else is a path of the deployed tree (from the board's own packages). A missing one is
 * an error naming it, before any partition is written.
 *
 * @example
 * const from = boardFileSource(board, boardDir, deployed, '/usr/lib/u-boot/rpi_4/u-boot.bin');
 */
export function boardFileSource(board: Board, boardDir: string, deployed: string, from: string): string {
  const path = from.startsWith('board:') ? join(boardDir, from.slice('board:'.length)) : join(deployed, from);
  if (!existsSync(path)) throw new OtaError('ERR_OTA_BOARD', `${board.name} installs ${from}, which the image does not have`, { hint: "is the package that ships it in the board's packages?" });
  return path;
}
