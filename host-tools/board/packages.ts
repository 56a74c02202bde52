import type { Board } from './schema.js';

/**
 * The packages a board adds to an image, in the order they are locked: the kernel, what builds
 * its initramfs (dracut, with the ostree module from ostree-boot), the bootloader and firmware.
 * They are locked with the image's sources and built as the board's layer on top of the image.
 *
 * @example
 * boardPackages(board); // ['linux-image-arm64', 'dracut', 'ostree-boot', 'u-boot-qemu']
 */
export function boardPackages(board: Board): string[] {
  const initramfs = board.kernel.initramfs === 'dracut' ? ['dracut', 'ostree-boot'] : [];
  return [...new Set([...board.kernel.packages, ...initramfs, ...board.bootloader.packages, ...board.firmware.packages])];
}
