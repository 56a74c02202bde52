/**
 * One bootloader behind four verbs (docs/conventions.md, "Bootloaders behind four verbs", after RAUC's backends): get state, set state, get
 * primary, set primary. The board picks the backend (uboot/backend.ts, grub/backend.ts); the agent
 * only ever sees this interface and the transitions in state.ts.
 *
 * What "primary" means: the OSTree boot entry the next boot picks. OSTree orders its entries
 * itself: entry 0 is the default deployment, entry 1 the previous one (after `ostree admin deploy`
 * the new deployment is 0 and the booted one 1). A bootloader never reorders them; it chooses
 * between the two, and that choice is the primary:
 * - U-Boot: entry 0 boots `kernel_image`/`ramdisk_image`/`bootargs` from OSTree's
 *   /boot/loader/uEnv.txt, entry 1 boots `kernel_image2`/`ramdisk_image2`/`bootargs2`.
 * - GRUB: entry 0 is the menu entry `deb-ota-0` rendered from OSTree's first BLS entry, entry 1
 *   `deb-ota-1` from the second; the generated grub.cfg sets `default` to one of them.
 * In both, the choice follows from the boot-counting state (state.ts `nextBoot`), so primary is
 * read from and written to that state, never stored beside it. Making a *different deployment*
 * the default is OSTree's job (`ostree admin set-default`), not the bootloader's.
 *
 * @example
 * const bl = ubootBackend({ envPath: '/boot/efi/ota.env' });
 * await bl.setState(armForUpgrade(await bl.getState()));
 * if ((await bl.getState()).rollback) await bl.getPrimary(); // 1: the previous deployment boots
 */
import { withContext } from '../common/errors.js';
import { DEFAULT_BOOTLIMIT, primaryOf, withPrimary, type BootEntry, type BootState } from './state.js';
import { bootStateFromVars, mergeBootState } from './state-vars.js';

export type { BootEntry, BootState } from './state.js';

export interface BootloaderBackend {
  readonly kind: 'uboot' | 'grub';
  /** Where the state lives, for messages (`/boot/efi/ota.env`). */
  readonly where: string;
  getState(): Promise<BootState>;
  /** Changes some fields and keeps the others; returns the state written. */
  setState(changes: Partial<BootState>): Promise<BootState>;
  /** The OSTree entry (0 or 1) the next boot picks. */
  getPrimary(): Promise<BootEntry>;
  /** Makes the next boot pick `entry`; returns the state written. */
  setPrimary(entry: BootEntry): Promise<BootState>;
}

/** Storage of the bootloader's variables, all a backend has to provide. */
export interface BootVarsStore {
  readonly where: string;
  read(): Promise<Map<string, string>>;
  /** Writes `state` (atomically: a reader sees the old or the new state, never a mix). */
  write(state: BootState): Promise<void>;
}

/** A backend over a variable store; the bootloader-specific parts are the store and its boot script. */
export function backendOverVars(kind: BootloaderBackend['kind'], store: BootVarsStore, defaultBootlimit = DEFAULT_BOOTLIMIT): BootloaderBackend {
  const context = (verb: string) => `${kind} boot state, ${verb}`;
  const getState = async (): Promise<BootState> => {
    try {
      return bootStateFromVars(await store.read(), store.where, defaultBootlimit);
    } catch (e) {
      throw withContext(e, context('reading'));
    }
  };
  const setState = async (changes: Partial<BootState>): Promise<BootState> => {
    try {
      const next = mergeBootState(await store.read(), changes, store.where, defaultBootlimit);
      await store.write(next);
      return next;
    } catch (e) {
      throw withContext(e, context('writing'));
    }
  };
  return {
    kind,
    where: store.where,
    getState,
    setState,
    getPrimary: async () => primaryOf(await getState()),
    setPrimary: async (entry) => {
      if (entry !== 0 && entry !== 1) throw new Error(`setPrimary(${String(entry)}): an OSTree entry is 0 or 1, this is a bug`);
      return setState(withPrimary(await getState(), entry));
    },
  };
}
