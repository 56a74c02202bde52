/**
 * The U-Boot environment as the device agent and `ota image` see it: read the current copy, write
 * a new one, or change a few variables, exactly as U-Boot and libubootenv's fw_printenv/fw_setenv
 * do, so that either side can be used on the same storage. Single and redundant environments, in
 * a file (`uboot.env` on vfat) or at offsets of a device or image (see env-storage.ts).
 *
 * Unlike fw_printenv, a storage where no copy has a good CRC is an error, not a silent fall-back
 * to defaults: boot counting must never read "no upgrade pending" from a damaged environment.
 * Writing over such a storage takes `{ recreate: true }`.
 *
 * @example
 * const layout = layoutFromFwEnvConfig(await readFile('/etc/fw_env.config', 'utf8'), '/etc/fw_env.config');
 * const { vars } = await readUbootEnv(layout);
 * await updateUbootEnv(layout, { bootcount: '0', upgrade_available: '1', rollback: null });
 */
import { OtaError } from '../../common/errors.js';
import { encodeUbootEnvCopy, inspectUbootEnvCopy, parseUbootEnvData, ubootEnvHeaderSize, type UbootEnvCopyHeader, type UbootEnvVars } from './env-format.js';
import { pickCurrentCopy, planUbootEnvWrite, type CurrentCopy } from './env-redundancy.js';
import { describeUbootEnvLocation, isMissingUbootEnvFile, readUbootEnvCopy, writeUbootEnvCopy, type UbootEnvLayout } from './env-storage.js';

export type { UbootEnvVars } from './env-format.js';
export type { UbootEnvLayout, UbootEnvLocation } from './env-storage.js';
export { layoutFromFwEnvConfig, parseFwEnvConfig, formatFwEnvConfig, type FwEnvConfigEntry } from './fw-env-config.js';
export { readUbootEnvText, writeUbootEnvText, parseUbootEnvText, formatUbootEnvText } from './env-text.js';

/** The current copy's variables and where they came from. */
export interface UbootEnv {
  vars: Map<string, string>;
  /** The copy the variables are in (always 0 for a single environment). */
  current: 0 | 1;
  /** Its flags counter; undefined for a single environment. */
  counter: number | undefined;
}

/** How far a write may go. */
export interface UbootEnvWriteOptions {
  /** Write even though no copy has a good CRC (a new or damaged storage), as `fw_setenv -f defaults` would. */
  recreate?: boolean;
}

function describeLayout(layout: UbootEnvLayout): string {
  return layout.copies.map(describeUbootEnvLocation).join(' and ');
}

function checkLayout(layout: UbootEnvLayout): void {
  const where = describeLayout(layout);
  const redundant = layout.copies.length === 2;
  const bad = (what: string) => new OtaError('ERR_OTA_BOOTENV', `${what} (${where})`, { hint: 'the layout must match U-Boot\'s CONFIG_ENV_SIZE, CONFIG_ENV_OFFSET and CONFIG_ENV_OFFSET_REDUND' });
  if (!Number.isInteger(layout.envSize) || layout.envSize <= ubootEnvHeaderSize(redundant) + 1) throw bad(`U-Boot environment size ${layout.envSize} is too small`);
  for (const c of layout.copies) {
    if (c.kind === 'raw' && (!Number.isInteger(c.offset) || c.offset < 0)) throw bad(`U-Boot environment offset ${c.offset} is not a non-negative integer`);
  }
  const [a, b] = layout.copies;
  if (a && b && a.path === b.path) {
    if (a.kind === 'file' || b.kind === 'file') throw bad('both U-Boot environment copies are the same file');
    if (Math.abs(a.offset - b.offset) < layout.envSize) throw bad('the two U-Boot environment copies overlap');
  }
}

interface LoadedCopy {
  bytes: Buffer | undefined;
  header: UbootEnvCopyHeader;
}

async function loadCopies(layout: UbootEnvLayout, recreate: boolean): Promise<LoadedCopy[]> {
  const redundant = layout.copies.length === 2;
  const out: LoadedCopy[] = [];
  for (const loc of layout.copies) {
    try {
      const bytes = await readUbootEnvCopy(loc, layout.envSize);
      out.push({ bytes, header: inspectUbootEnvCopy(bytes, redundant) });
    } catch (e) {
      // A boot partition that never had a uboot.env: nothing to keep, so recreating may create it.
      if (!(recreate && loc.kind === 'file' && isMissingUbootEnvFile(e))) throw e;
      out.push({ bytes: undefined, header: { crcOk: false, counter: 0 } });
    }
  }
  return out;
}

function noValidCopy(layout: UbootEnvLayout): OtaError {
  const copies = layout.copies.length === 2 ? 'both copies of the U-Boot environment have a bad CRC' : 'the U-Boot environment has a bad CRC';
  return new OtaError('ERR_OTA_BOOTENV', `${copies} (${describeLayout(layout)}); U-Boot would boot with its built-in defaults`, {
    hint:
      'check that offsets and size match CONFIG_ENV_OFFSET(_REDUND) and CONFIG_ENV_SIZE; if they do, the environment was never saved or is damaged: ' +
      'write a fresh one with { recreate: true } (or `fw_setenv -f <defaults>`, or `saveenv` at the U-Boot prompt)',
  });
}

interface Loaded {
  copies: LoadedCopy[];
  current: CurrentCopy;
}

async function load(layout: UbootEnvLayout, recreate: boolean): Promise<Loaded> {
  checkLayout(layout);
  const copies = await loadCopies(layout, recreate);
  return { copies, current: pickCurrentCopy(copies.map((c) => c.header)) };
}

/** The variables of the current copy, or undefined when no copy has a good CRC. */
function currentVars(layout: UbootEnvLayout, { copies, current }: Loaded): Map<string, string> | undefined {
  const bytes = copies[current.index]?.bytes;
  const loc = layout.copies[current.index];
  if (!current.valid || !bytes || !loc) return undefined;
  return parseUbootEnvData(bytes, copies.length === 2, describeUbootEnvLocation(loc));
}

async function store(layout: UbootEnvLayout, { copies, current }: Loaded, vars: UbootEnvVars): Promise<UbootEnv> {
  const plan = planUbootEnvWrite(current, copies.map((c) => c.header));
  const target = layout.copies[plan.copy];
  if (!target) throw new Error('writeUbootEnv: planned copy out of range, this is a bug');
  const bytes = encodeUbootEnvCopy(vars, {
    envSize: layout.envSize,
    redundant: layout.copies.length === 2,
    counter: plan.counter,
    where: describeUbootEnvLocation(target),
  });
  await writeUbootEnvCopy(target, bytes);
  return { vars: new Map(vars), current: plan.copy, counter: plan.counter };
}

/** The variables of the current copy; throws if no copy has a good CRC. */
export async function readUbootEnv(layout: UbootEnvLayout): Promise<UbootEnv> {
  const loaded = await load(layout, false);
  const vars = currentVars(layout, loaded);
  if (!vars) throw noValidCopy(layout);
  const { current, copies } = loaded;
  return { vars, current: current.index, counter: copies.length === 2 ? copies[current.index]?.header.counter : undefined };
}

/**
 * Replaces all variables. A redundant environment gets the new copy in the slot that is not
 * current, with the counter bumped; the current copy is never touched, so a write cut short
 * leaves the old environment in force.
 */
export async function writeUbootEnv(layout: UbootEnvLayout, vars: UbootEnvVars, options: UbootEnvWriteOptions = {}): Promise<UbootEnv> {
  const loaded = await load(layout, options.recreate ?? false);
  if (!loaded.current.valid && !options.recreate) throw noValidCopy(layout);
  return store(layout, loaded, vars);
}

/**
 * Sets (string) or deletes (null) some variables and keeps the rest, as fw_setenv does. With
 * `recreate`, a storage without a good copy starts from no variables.
 */
export async function updateUbootEnv(layout: UbootEnvLayout, changes: Readonly<Record<string, string | null>>, options: UbootEnvWriteOptions = {}): Promise<UbootEnv> {
  const loaded = await load(layout, options.recreate ?? false);
  const before = currentVars(layout, loaded);
  if (!before && !options.recreate) throw noValidCopy(layout);
  const vars = new Map(before ?? []);
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) vars.delete(name);
    else vars.set(name, value);
  }
  return store(layout, loaded, vars);
}
