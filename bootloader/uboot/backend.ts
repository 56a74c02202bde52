/**
 * The U-Boot backend: boot-counting state in `ota.env`, a U-Boot text environment (`env import
 * -t` format) on the vfat boot partition, which the boot script (boot-script.ts) reads with
 * `fatload` + `env import -t` and writes with `env export -t` + `fatwrite`. This works where
 * `saveenv` does not (U-Boot's pflash env under qemu, ostree-facts.md) and on any board whose
 * boot partition is vfat; Linux reads and writes the same file through the mounted partition.
 *
 * The file holds exactly the four state variables: U-Boot exports only those when it counts, so
 * anything else would vanish on the next boot anyway. Writes are atomic (temp file + rename, the
 * best vfat offers); the file must already exist, because a missing one usually means the boot
 * partition is not mounted, and creating it on the root filesystem would change nothing U-Boot sees.
 *
 * Primary (backend.ts): entry 0 is uEnv.txt's `kernel_image`, entry 1 its `kernel_image2`.
 *
 * @example
 * const bl = ubootBackend({ envPath: '/boot/efi/ota.env', defaultBootlimit: 3 });
 * await bl.setState({ bootcount: 0, upgradeAvailable: true, rollback: false });
 */
import { backendOverVars, type BootloaderBackend } from '../backend.js';
import { DEFAULT_BOOTLIMIT } from '../state.js';
import { bootStateToVars } from '../state-vars.js';
import { readUbootEnvText, writeUbootEnvText } from './env-text.js';

export interface UbootBackendOptions {
  /** `ota.env` on the mounted boot partition. */
  envPath: string;
  /** The bootlimit the boot script assumes when ota.env has none (its `defaultBootlimit`). */
  defaultBootlimit?: number;
}

export function ubootBackend(options: UbootBackendOptions): BootloaderBackend {
  const path = options.envPath;
  return backendOverVars(
    'uboot',
    {
      where: path,
      read: () => readUbootEnvText(path),
      write: async (state) => {
        // Fail like a read would when the file is missing, instead of creating it wherever the path points.
        await readUbootEnvText(path);
        await writeUbootEnvText(path, bootStateToVars(state));
      },
    },
    options.defaultBootlimit ?? DEFAULT_BOOTLIMIT,
  );
}
