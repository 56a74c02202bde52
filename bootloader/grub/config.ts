/**
 * A grub.cfg (or a fragment for one) that boots OSTree's entries (bls.ts) and counts boots in a
 * grubenv with the same rules as the U-Boot script (state.ts `nextBoot`):
 *
 * - `load_env` the four state variables (only those: a grubenv cannot set `prefix` through us);
 * - only while `upgrade_available=1`: bootcount+1 and, past `bootlimit`, `rollback=1
 *   upgrade_available=0`, then `save_env` before any entry runs;
 * - `default` is `deb-ota-1` (OSTree's second entry) while `rollback=1`, else `deb-ota-0`, with
 *   `fallback` to the other one: an entry GRUB cannot even load falls back in the same boot,
 *   without changing the state (the agent sees which deployment booted).
 *
 * Debian's GRUB has no `increment` module, so bootcount is incremented by explicit comparisons
 * (`if [ "${bootcount}" = "2" ]; then set bootcount=3`), decimal as Linux reads it. `default` names
 * entries by id, but Debian's GRUB 2.06 takes only numbers for `fallback` (measured with grub-emu:
 * an id or a title there gives "Failed to boot both default and fallback entries"), so a fragment
 * that follows other menu entries says where its entries start (`firstEntryIndex`).
 * Kernel options are single-quoted word by word, so `$` in them reaches the kernel unexpanded.
 *
 * @example
 * const cfg = renderGrubConfig(await readOstreeBlsEntries('/boot'), {
 *   env: { label: 'ESP', path: '/EFI/ota/grubenv' },
 *   boot: { label: 'root', path: '/boot' },
 * });
 */
import { OtaError } from '../../common/errors.js';
import { DEFAULT_BOOTLIMIT, MAX_BOOTCOUNT, MAX_BOOTLIMIT } from '../state.js';
import { BOOT_STATE_VARS } from '../state-vars.js';
import type { BlsEntry } from './bls.js';

/**
 * A file on a filesystem GRUB finds by its label or its UUID (`search --fs-uuid`: unique even when
 * another disk has a partition of the same label), or on GRUB's current `root` without either.
 */
export interface GrubLocation {
  label?: string;
  /** The filesystem's UUID as blkid shows it (ext4: `0a1b...-...`; vfat: `ABCD-1234`). */
  uuid?: string;
  path: string;
}

export interface GrubConfigOptions {
  /** The grubenv (board.yaml `bootloader.env`), e.g. `{ label: 'ESP', path: '/EFI/ota/grubenv' }`. */
  env: GrubLocation;
  /** OSTree's /boot: `/boot` on the root filesystem, or `` when /boot is its own partition. */
  boot: GrubLocation;
  /** Used when the grubenv has no bootlimit or a bad one (default 3). */
  defaultBootlimit?: number;
  /** Menu timeout (default 1). */
  timeoutSeconds?: number;
  /** Position of the first OSTree entry in the final menu: 0 when this is the whole grub.cfg (the default). */
  firstEntryIndex?: number;
}

/** GRUB's single-quoted word: nothing inside is expanded; a `'` is closed, escaped and reopened. */
export function grubQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Kernel command-line words, keeping `name="a b"` whole as the kernel's own parser does. */
export function splitKernelOptions(options: string): string[] {
  return options.match(/(?:[^\s"]+|"[^"]*"?)+/g) ?? [];
}

function bad(what: string, hint: string): OtaError {
  return new OtaError('ERR_OTA_BOOTLOADER', `grub.cfg: ${what}`, { hint });
}

function checkLocation(name: string, loc: GrubLocation, mayBeEmpty: boolean): void {
  const pathOk = (mayBeEmpty && loc.path === '') || /^(\/[A-Za-z0-9._+-]+)+$/.test(loc.path);
  if (!pathOk || loc.path.split('/').includes('..')) throw bad(`expected ${name}.path to be an absolute path of plain names, got ${JSON.stringify(loc.path)}`, 'for example /EFI/ota/grubenv or /boot');
  if (loc.label !== undefined && !/^[A-Za-z0-9._-]{1,36}$/.test(loc.label)) throw bad(`expected ${name}.label to be a filesystem label, got ${JSON.stringify(loc.label)}`, 'letters, digits, ".", "_" and "-"');
  if (loc.uuid !== undefined && !/^[0-9A-Fa-f]+(-[0-9A-Fa-f]+)*$/.test(loc.uuid)) throw bad(`expected ${name}.uuid to be a filesystem UUID, got ${JSON.stringify(loc.uuid)}`, 'as blkid shows it, e.g. 0a1b2c3d-... for ext4 or ABCD-1234 for vfat');
  if (loc.label !== undefined && loc.uuid !== undefined) throw bad(`${name} names both a label and a UUID`, 'give one of them (the UUID is the more specific)');
}

/** The `search` line that sets `variable` to the filesystem holding `loc`, if it names one. */
function searchLine(loc: GrubLocation, variable: string): string | undefined {
  if (loc.uuid !== undefined) return `search --no-floppy --fs-uuid --set=${variable} ${grubQuote(loc.uuid)}`;
  if (loc.label !== undefined) return `search --no-floppy --label --set=${variable} ${grubQuote(loc.label)}`;
  return undefined;
}

function entryLines(e: BlsEntry, index: number, o: GrubConfigOptions): string[] {
  const title = e.title ?? `OSTree entry ${index}`;
  const path = (p: string) => grubQuote(`${o.boot.path}${p.startsWith('/') ? '' : '/'}${p}`);
  const search = searchLine(o.boot, 'root');
  return [
    `menuentry ${grubQuote(title)} --id deb-ota-${index} {`,
    ...(search ? [`  ${search}`] : []),
    `  echo ${grubQuote(`Loading ${title}`)}`,
    `  linux ${[path(e.linux), ...splitKernelOptions(e.options).map(grubQuote)].join(' ')}`,
    ...(e.initrd.length ? [`  initrd ${e.initrd.map(path).join(' ')}`] : []),
    ...(e.devicetree ? [`  devicetree ${path(e.devicetree)}`] : []),
    `}`,
  ];
}

/** The grub.cfg text; `entries` in OSTree's order (bls.ts `sortBlsEntries`). */
export function renderGrubConfig(entries: readonly BlsEntry[], options: GrubConfigOptions): string {
  const limit = options.defaultBootlimit ?? DEFAULT_BOOTLIMIT;
  const timeout = options.timeoutSeconds ?? 1;
  const first = options.firstEntryIndex ?? 0;
  checkLocation('env', options.env, false);
  checkLocation('boot', options.boot, true);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_BOOTLIMIT) throw bad(`expected defaultBootlimit to be an integer from 1 to ${MAX_BOOTLIMIT}, got ${JSON.stringify(limit)}`, 'meta-updater uses 3');
  if (!Number.isInteger(timeout) || timeout < 0) throw bad(`expected timeoutSeconds to be a whole number of seconds, got ${JSON.stringify(timeout)}`, '0 boots at once');
  if (!Number.isInteger(first) || first < 0) throw bad(`expected firstEntryIndex to be a menu position (0 or more), got ${JSON.stringify(first)}`, 'count the menu entries before the OSTree ones');
  if (entries.length === 0) throw bad('no OSTree boot entries', 'deploy a commit first (`ostree admin deploy`)');
  const envSearch = searchLine(options.env, 'deb_ota_env');
  const env = envSearch ? `(\${deb_ota_env})${options.env.path}` : options.env.path;
  const vars = BOOT_STATE_VARS.join(' ');
  const limits = Array.from({ length: MAX_BOOTLIMIT }, (_, i) => String(i + 1)).join(' ');
  const count = Array.from({ length: MAX_BOOTCOUNT - 1 }, (_, i) => `  ${i === 0 ? 'if' : 'elif'} [ "\${bootcount}" = "${i}" ]; then set bootcount=${i + 1}`);
  const choose =
    entries.length > 1
      ? [`if [ "\${rollback}" = "1" ]; then`, `  set default=deb-ota-1`, `  set fallback=${first}`, `else`, `  set default=deb-ota-0`, `  set fallback=${first + 1}`, `fi`]
      : [`set default=deb-ota-0`];
  return [
    `# deb-ota boot counting and OSTree entries, generated by bootloader/grub/config.ts: do not edit.`,
    `# Counts boots in ${options.env.label ?? options.env.uuid ?? ''}${envSearch ? ':' : ''}${options.env.path} only while upgrade_available=1 (meta-updater's scheme).`,
    ...(envSearch ? [envSearch] : []),
    `set bootcount=0`,
    `set bootlimit=${limit}`,
    `set rollback=0`,
    `set upgrade_available=0`,
    `load_env -f "${env}" ${vars}`,
    `set deb_ota_ok=0`,
    `for n in ${limits}; do if [ "\${bootlimit}" = "\${n}" ]; then set deb_ota_ok=1; fi; done`,
    `if [ "\${deb_ota_ok}" != "1" ]; then set bootlimit=${limit}; fi`,
    `echo "ota: bootcount=\${bootcount} bootlimit=\${bootlimit} upgrade_available=\${upgrade_available} rollback=\${rollback}"`,
    ``,
    `# Count only while an update is pending, and save before booting (no increment module: compare).`,
    `if [ "\${upgrade_available}" = "1" ]; then`,
    ...count,
    `  else set bootcount=${MAX_BOOTCOUNT}`,
    `  fi`,
    `  if [ "\${bootcount}" -gt "\${bootlimit}" ]; then`,
    `    echo "ota: boot \${bootcount} is past bootlimit \${bootlimit}: falling back to the previous deployment"`,
    `    set rollback=1`,
    `    set upgrade_available=0`,
    `  fi`,
    `  save_env -f "${env}" ${vars}`,
    `fi`,
    ...choose,
    `set timeout=${timeout}`,
    ``,
    ...entries.flatMap((e, i) => [...entryLines(e, i, options), '']),
  ].join('\n');
}
