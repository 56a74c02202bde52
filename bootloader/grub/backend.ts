/**
 * The GRUB backend: boot-counting state in a grubenv, which the generated grub.cfg (config.ts)
 * reads with `load_env` and writes with `save_env`. Same variable names and rules as U-Boot
 * (state-vars.ts) rather than greenboot's `boot_counter`/`boot_success`, so the agent treats both
 * bootloaders alike; greenboot's scheme also needs GRUB's `increment` module, which Debian lacks.
 *
 * Other variables in the grubenv (`saved_entry`, ...) are kept, in place, as grub-editenv keeps
 * them. GRUB's save_env overwrites the file's blocks in place, so the grubenv must sit on a plain
 * filesystem GRUB can write (vfat or ext4; not btrfs, LVM, RAID or an encrypted volume).
 *
 * Primary (backend.ts): entry 0 is the menu entry `deb-ota-0`, entry 1 `deb-ota-1`.
 *
 * @example
 * const bl = grubBackend({ envPath: '/boot/efi/EFI/ota/grubenv' });
 * await bl.setState({ bootcount: 0, upgradeAvailable: false }); // after the health checks passed
 */
import { backendOverVars, type BootloaderBackend } from '../backend.js';
import { DEFAULT_BOOTLIMIT } from '../state.js';
import { bootStateToVars } from '../state-vars.js';
import { readGrubEnv, updateGrubEnv } from './env.js';

export interface GrubBackendOptions {
  /** The grubenv file on the mounted partition. */
  envPath: string;
  /** The bootlimit grub.cfg assumes when the grubenv has none (config.ts `defaultBootlimit`). */
  defaultBootlimit?: number;
}

export function grubBackend(options: GrubBackendOptions): BootloaderBackend {
  const path = options.envPath;
  return backendOverVars(
    'grub',
    {
      where: path,
      read: () => readGrubEnv(path),
      write: async (state) => {
        await updateGrubEnv(path, Object.fromEntries(bootStateToVars(state)));
      },
    },
    options.defaultBootlimit ?? DEFAULT_BOOTLIMIT,
  );
}
