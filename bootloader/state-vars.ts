/**
 * Boot-counting state as bootloader variables. Both backends use meta-updater's names, so the
 * U-Boot text env (`ota.env`), a grubenv and `fw_printenv` all show the same four lines and the
 * agent needs one set of rules:
 *
 *     bootcount=1
 *     bootlimit=3
 *     rollback=0
 *     upgrade_available=1
 *
 * A missing variable means what the boot scripts make of it (0, or the default bootlimit). A
 * present one must be spelled as the scripts write it: they compare strings, so `upgrade_available=yes`
 * would silently mean "no upgrade pending" to the bootloader; here it is an error instead.
 *
 * @example
 * const state = bootStateFromVars(new Map([['bootcount', '2'], ['upgrade_available', '1']]), 'ota.env');
 * const vars = bootStateToVars({ ...state, bootcount: 0 }); // Map { bootcount → '0', bootlimit → '3', ... }
 */
import { OtaError } from '../common/errors.js';
import { checkBootState, DEFAULT_BOOTLIMIT, MAX_BOOTCOUNT, MAX_BOOTLIMIT, type BootState } from './state.js';

/** Variable names, in the order `env export -t` sorts them. */
export const BOOT_STATE_VARS = ['bootcount', 'bootlimit', 'rollback', 'upgrade_available'] as const;
export type BootStateVar = (typeof BOOT_STATE_VARS)[number];

const fieldOf = {
  bootcount: 'bootcount',
  bootlimit: 'bootlimit',
  rollback: 'rollback',
  upgrade_available: 'upgradeAvailable',
} as const satisfies Record<BootStateVar, keyof BootState>;

function integer(vars: ReadonlyMap<string, string>, name: 'bootcount' | 'bootlimit', fallback: number, [min, max]: [number, number], where: string): number {
  const raw = vars.get(name);
  if (raw === undefined) return fallback;
  if (!/^(0|[1-9][0-9]*)$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new OtaError('ERR_OTA_BOOTLOADER', `expected ${name} to be an integer from ${min} to ${max}, got ${JSON.stringify(raw)} (${where})`, {
      hint: `the boot script would not count with it; set all four variables again (bootloader backend setState)`,
    });
  }
  return Number(raw);
}

function flag(vars: ReadonlyMap<string, string>, name: 'rollback' | 'upgrade_available', where: string): boolean {
  const raw = vars.get(name);
  if (raw === undefined || raw === '0') return false;
  if (raw === '1') return true;
  throw new OtaError('ERR_OTA_BOOTLOADER', `expected ${name} to be 0 or 1, got ${JSON.stringify(raw)} (${where})`, {
    hint: `the boot script only recognises "1" and would read this as 0; set it again (bootloader backend setState)`,
  });
}

/** The state in `vars`; other variables are ignored. */
export function bootStateFromVars(vars: ReadonlyMap<string, string>, where: string, defaultBootlimit = DEFAULT_BOOTLIMIT): BootState {
  return checkBootState(
    {
      bootcount: integer(vars, 'bootcount', 0, [0, MAX_BOOTCOUNT], where),
      upgradeAvailable: flag(vars, 'upgrade_available', where),
      rollback: flag(vars, 'rollback', where),
      bootlimit: integer(vars, 'bootlimit', defaultBootlimit, [1, MAX_BOOTLIMIT], where),
    },
    where,
  );
}

/** The four variables for `state`, sorted by name as `env export -t` writes them. */
export function bootStateToVars(state: BootState): Map<BootStateVar, string> {
  const out = new Map<BootStateVar, string>();
  for (const name of BOOT_STATE_VARS) {
    const value = state[fieldOf[name]];
    out.set(name, typeof value === 'boolean' ? (value ? '1' : '0') : String(value));
  }
  return out;
}

/**
 * `current` with `changes` applied. Fields being replaced are not read, so a damaged variable can
 * always be repaired by setting it; the result is checked as a whole.
 */
export function mergeBootState(current: ReadonlyMap<string, string>, changes: Partial<BootState>, where: string, defaultBootlimit = DEFAULT_BOOTLIMIT): BootState {
  const kept = new Map(current);
  for (const name of BOOT_STATE_VARS) if (changes[fieldOf[name]] !== undefined) kept.delete(name);
  const base = bootStateFromVars(kept, where, defaultBootlimit);
  const merged: BootState = {
    bootcount: changes.bootcount ?? base.bootcount,
    upgradeAvailable: changes.upgradeAvailable ?? base.upgradeAvailable,
    rollback: changes.rollback ?? base.rollback,
    bootlimit: changes.bootlimit ?? base.bootlimit,
  };
  return checkBootState(merged, where);
}
