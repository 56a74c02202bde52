/**
 * Which of two environment copies is current, and which one a write goes to: the plan half of
 * reading and writing a redundant U-Boot environment (CONFIG_SYS_REDUNDAND_ENVIRONMENT), with no
 * I/O. The rules are the ones U-Boot (env_import_redund) and libubootenv share, checked against
 * Debian's fw_printenv/fw_setenv 0.3.2:
 * - a copy with a good CRC beats one with a bad CRC, whatever their counters say;
 * - of two good copies the higher counter wins, except that 0 beats 255 (the counter wrapped);
 *   equal counters pick the first copy;
 * - a write never touches the current copy: it goes to the other one, with the current counter
 *   plus one (255 wraps to 0), so that a write cut short leaves the old copy current.
 *   With both copies bad, copy 0 counts as current, so the write goes to copy 1 with copy 0's
 *   flags byte plus one, exactly as fw_setenv does.
 *
 * @example
 * const cur = pickCurrentCopy([{ crcOk: true, counter: 255 }, { crcOk: true, counter: 0 }]); // { index: 1, valid: true }
 * const plan = planUbootEnvWrite(cur, [{ crcOk: true, counter: 255 }, { crcOk: true, counter: 0 }]); // { copy: 0, counter: 1 }
 */
import type { UbootEnvCopyHeader } from './env-format.js';

/** The copy that counts: U-Boot boots with it and fw_printenv prints it. */
export interface CurrentCopy {
  index: 0 | 1;
  /** False when no copy has a good CRC (index is then 0, as in libubootenv). */
  valid: boolean;
}

/** Picks the current copy of a single (one header) or redundant (two headers) environment. */
export function pickCurrentCopy(copies: readonly UbootEnvCopyHeader[]): CurrentCopy {
  const [a, b] = copies;
  if (!a) throw new Error('pickCurrentCopy: no copies, this is a bug');
  if (!b) return { index: 0, valid: a.crcOk };
  if (a.crcOk !== b.crcOk) return { index: a.crcOk ? 0 : 1, valid: true };
  if (!a.crcOk) return { index: 0, valid: false };
  if (a.counter === 0xff && b.counter === 0) return { index: 1, valid: true };
  if (b.counter === 0xff && a.counter === 0) return { index: 0, valid: true };
  return { index: b.counter > a.counter ? 1 : 0, valid: true };
}

/** Where the next write goes and with which counter (undefined for a single copy). */
export interface UbootEnvWritePlan {
  copy: 0 | 1;
  counter: number | undefined;
}

export function planUbootEnvWrite(current: CurrentCopy, copies: readonly UbootEnvCopyHeader[]): UbootEnvWritePlan {
  if (copies.length === 1) return { copy: 0, counter: undefined };
  const from = copies[current.index];
  if (!from) throw new Error('planUbootEnvWrite: current copy out of range, this is a bug');
  return { copy: current.index === 0 ? 1 : 0, counter: (from.counter + 1) & 0xff };
}
