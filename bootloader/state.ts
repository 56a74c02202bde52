/**
 * Boot-counting state as meta-updater/aktualizr define it, and the transitions the device agent
 * makes, as plain data: no disk here, so every rule is unit-tested and shared by all backends.
 *
 * - `upgradeAvailable`: an update was deployed and has not yet proved itself. Only while it is set
 *   does the bootloader count, so ordinary power cycles never eat into the limit.
 * - `bootcount`: boots started since the update was armed, counted by the bootloader before it
 *   boots (so a boot that hangs or panics has already been counted).
 * - `bootlimit`: how many tries the update gets; the boot that takes `bootcount` past it falls
 *   back to OSTree's second entry and sets `rollback`, clearing `upgradeAvailable`.
 * - `rollback`: the bootloader fell back (or the agent asked it to). It is sticky: while set, the
 *   bootloader keeps booting the second entry, because OSTree's default (entry 0) is still the
 *   failed deployment until the agent changes OSTree's order and clears it.
 *
 * The safety order (docs/conventions.md, "The safety order"): deploy (the new deployment becomes OSTree's entry 0), then
 * `armForUpgrade`, then reboot; `markGood` only after required health checks pass. After a
 * rollback, make the booted deployment OSTree's default first (`ostree admin set-default` /
 * `undeploy`) and only then `clearRollback`: the other way round, one reboot in between would boot
 * the failed deployment with nothing counting.
 *
 * @example
 * let s = armForUpgrade(initialBootState());          // written before the reboot
 * const { entry, state } = nextBoot(s);               // what the bootloader will do: entry 0, bootcount 1
 * s = markGood(state);                                // health checks passed
 */
import { OtaError } from '../common/errors.js';

/** Which of OSTree's boot entries: 0 is the default deployment, 1 the previous (rollback) one. */
export type BootEntry = 0 | 1;

export interface BootState {
  bootcount: number;
  upgradeAvailable: boolean;
  rollback: boolean;
  bootlimit: number;
}

/** meta-updater's and RAUC's default number of tries. */
export const DEFAULT_BOOTLIMIT = 3;
/** The largest bootlimit the boot scripts accept (boards/*.yaml allow 1 to 10). */
export const MAX_BOOTLIMIT = 10;
/**
 * Where the bootloaders' counter stops: they increment by explicit comparisons (neither U-Boot's
 * hexadecimal setexpr nor GRUB, which lacks `increment`, counts in decimal), and anything they do
 * not recognise becomes this value, which is past every allowed bootlimit.
 */
export const MAX_BOOTCOUNT = MAX_BOOTLIMIT + 1;

/** A fresh image: nothing pending, nothing rolled back. */
export function initialBootState(bootlimit = DEFAULT_BOOTLIMIT): BootState {
  return checkBootState({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit }, 'initial boot state');
}

/** After deploying an update, before rebooting into it: count from zero, forget an old rollback. */
export function armForUpgrade(s: BootState): BootState {
  return { ...s, bootcount: 0, upgradeAvailable: true, rollback: false };
}

/** After the required health checks passed on the booted deployment: stop counting. */
export function markGood(s: BootState): BootState {
  return { ...s, bootcount: 0, upgradeAvailable: false };
}

/**
 * The agent gives up on the update itself (health checks failed or timed out): boot the previous
 * deployment next, as the bootloader would have after `bootlimit` failed boots.
 */
export function requestRollback(s: BootState): BootState {
  return { ...s, upgradeAvailable: false, rollback: true };
}

/** After a rollback, once OSTree's default is the deployment that booted: boot entry 0 again. */
export function clearRollback(s: BootState): BootState {
  return { ...s, bootcount: 0, rollback: false };
}

/** What one boot does, as the generated U-Boot script and grub.cfg implement it. */
export interface BootDecision {
  /** The OSTree entry the bootloader boots. */
  entry: BootEntry;
  /** The state after the bootloader's bookkeeping. */
  state: BootState;
  /** Whether the bootloader writes the state back (only while counting). */
  saved: boolean;
}

/**
 * The bootloader's side, for the agent and for tests: while an upgrade is pending, count this
 * boot and fall back once past the limit; then boot entry 1 if rolled back (and there is one).
 */
export function nextBoot(s: BootState, hasSecondEntry = true): BootDecision {
  let state = { ...s };
  let saved = false;
  if (state.upgradeAvailable) {
    state.bootcount = Math.min(state.bootcount + 1, MAX_BOOTCOUNT);
    if (state.bootcount > state.bootlimit) state = { ...state, rollback: true, upgradeAvailable: false };
    saved = true;
  }
  return { entry: state.rollback && hasSecondEntry ? 1 : 0, state, saved };
}

/**
 * The primary: the OSTree entry the next boot picks. It is derived from the state, never stored
 * beside it, so the two cannot disagree: entry 1 when rolled back or when the next count runs
 * out, else entry 0 (OSTree's default deployment).
 */
export function primaryOf(s: BootState): BootEntry {
  return nextBoot(s).entry;
}

/**
 * The state that makes `entry` the primary. Entry 1 is a rollback the agent asks for; entry 0
 * clears a rollback and restarts the count, so a pending upgrade gets its full `bootlimit` again.
 */
export function withPrimary(s: BootState, entry: BootEntry): BootState {
  return entry === 1 ? requestRollback(s) : { ...s, rollback: false, bootcount: 0 };
}

/** Throws an OtaError unless every field is in the range the boot scripts handle. */
export function checkBootState(s: BootState, where: string): BootState {
  const bad = (what: string) =>
    new OtaError('ERR_OTA_BOOTLOADER', `${what} (${where})`, {
      hint: `bootcount is an integer from 0 to ${MAX_BOOTCOUNT}, bootlimit one from 1 to ${MAX_BOOTLIMIT}`,
    });
  if (!Number.isInteger(s.bootlimit) || s.bootlimit < 1 || s.bootlimit > MAX_BOOTLIMIT) {
    throw bad(`expected bootlimit to be an integer from 1 to ${MAX_BOOTLIMIT}, got ${JSON.stringify(s.bootlimit)}`);
  }
  if (!Number.isInteger(s.bootcount) || s.bootcount < 0 || s.bootcount > MAX_BOOTCOUNT) {
    throw bad(`expected bootcount to be an integer from 0 to ${MAX_BOOTCOUNT}, got ${JSON.stringify(s.bootcount)}`);
  }
  if (typeof s.upgradeAvailable !== 'boolean' || typeof s.rollback !== 'boolean') throw bad('upgradeAvailable and rollback must be booleans');
  return s;
}
