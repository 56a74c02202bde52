/**
 * The U-Boot backend: boot-counting state in `ota.env`, a U-Boot text environment (`env import
 * -t` format) on the vfat boot partition, which the boot script (boot-script.ts) reads with
 * `fatload` + `env import -t` and writes with `env export -t` + `fatwrite`. This works where
 * `saveenv` does not (U-Boot's pflash env under qemu, docs/platform-facts.md, "U-Boot") and on any board whose
 * boot partition is vfat; Linux reads and writes the same file through the mounted partition.
 *
 * The file holds exactly the four state variables: U-Boot exports only those when it counts, so
 * anything else would vanish on the next boot anyway. It is kept twice, `ota.env` and `ota.bak`
 * (env-copies.ts), both written whole one after the other (temp file + rename each, the best vfat
 * offers), and read as the boot script reads them. One of them must already exist, because none
 * usually means the boot partition is not mounted, and creating them on the root filesystem would
 * change nothing U-Boot sees.
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
import { backupEnvPath, isWholeCopy } from './env-copies.js';
import { readUbootEnvText, writeUbootEnvText } from './env-text.js';

export interface UbootBackendOptions {
  /** `ota.env` on the mounted boot partition. */
  envPath: string;
  /** The bootlimit the boot script assumes when ota.env has none (its `defaultBootlimit`). */
  defaultBootlimit?: number;
}

export function ubootBackend(options: UbootBackendOptions): BootloaderBackend {
  const path = options.envPath;
  const backup = backupEnvPath(path);
  return backendOverVars(
    'uboot',
    {
      where: path,
      // As the boot script reads it: the first whole copy, else the primary as it is.
      read: async () => {
        for (const p of [path, backup]) {
          const vars = await readUbootEnvText(p).catch(() => undefined);
          if (vars && isWholeCopy(vars)) return vars;
        }
        return readUbootEnvText(path);
      },
      // setState reads first, so neither copy is created where none was (an unmounted boot partition).
      write: async (state) => {
        // One after the other, each replaced whole: a power cut leaves one of them intact.
        await writeUbootEnvText(path, bootStateToVars(state));
        await writeUbootEnvText(backup, bootStateToVars(state));
      },
    },
    options.defaultBootlimit ?? DEFAULT_BOOTLIMIT,
  );
}
