/**
 * What a board needs from the image it boots. The board's initramfs is dracut's with OSTree's
 * module (docs/boards.md), which mounts the deployment and hands over to the image's init from
 * systemd units, and the deployed image is run by systemd (OSTree's remount and finalize units):
 * an image without systemd locks fine and then fails deep inside the build's dracut run, so it is
 * refused at lock time with this reason.
 *
 * @example
 * boardInitProblem('qemu-arm64', (n) => selected.has(n)); // undefined when systemd is in
 */
export function boardInitProblem(board: string, has: (name: string) => boolean): string | undefined {
  if (has('systemd')) return undefined;
  return `board ${board} boots the image with systemd (its initramfs is dracut's with OSTree's module, and OSTree's units run the deployment), but the image has no systemd: add systemd-sysv to packages`;
}
