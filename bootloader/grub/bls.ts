/**
 * OSTree's boot entries: Boot Loader Specification files in /boot/loader/entries, one per
 * deployment (`title`, `version`, `linux`, `initrd`, `options`, `devicetree`), read and ordered the
 * way libostree reads them (ostree-sysroot.c, 2022.7): only regular files named `ostree-*.conf`;
 * `key value` lines split at the first space or tab; sorted by `version`, highest first, with
 * strverscmp, so that entry 0 is the default deployment; entries without a version last.
 *
 * GRUB needs them because Debian's GRUB has no `blscfg` module: config.ts renders them into
 * menu entries. Paths in them are relative to OSTree's /boot.
 *
 * @example
 * const entries = await readOstreeBlsEntries('/boot');  // [default deployment, previous one]
 * entries[0]?.linux; // '/ostree/debian-<bootcsum>/vmlinuz-6.1.0-28-arm64'
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';

export interface BlsEntry {
  /** The file it came from, for messages and as a tie-breaker. */
  file: string;
  title: string | undefined;
  version: string | undefined;
  linux: string;
  /** Every `initrd` line, in order (the BLS allows several). */
  initrd: string[];
  options: string;
  devicetree: string | undefined;
}

/** Parses one entry file's text. */
export function parseBlsEntry(text: string, file: string): BlsEntry {
  const keys = new Map<string, string>();
  const initrd: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^([^ \t]+)[ \t]+(.*)$/.exec(line);
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'initrd') initrd.push(value);
    else keys.set(key, value);
  }
  const linux = keys.get('linux');
  if (!linux) {
    throw new OtaError('ERR_OTA_BOOTLOADER', `boot entry has no \`linux\` line (${file})`, {
      hint: 'OSTree writes one per deployment; was the file written by something else, or cut short?',
    });
  }
  return { file, title: keys.get('title'), version: keys.get('version'), linux, initrd, options: keys.get('options') ?? '', devicetree: keys.get('devicetree') };
}

/** glibc's strverscmp for what OSTree's versions hold: digit runs compare as numbers. */
export function strverscmp(a: string, b: string): number {
  const split = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const pa = split(a);
  const pb = split(b);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    if (x === y) continue;
    if (/^\d/.test(x) && /^\d/.test(y)) {
      const d = BigInt(x) - BigInt(y);
      if (d !== 0n) return d < 0n ? -1 : 1;
    }
    return x < y ? -1 : 1;
  }
  return Math.sign(pa.length - pb.length);
}

/** OSTree's order: highest version first, entries without a version last (by file name, for stability). */
export function sortBlsEntries(entries: readonly BlsEntry[]): BlsEntry[] {
  return [...entries].sort((a, b) => {
    if (a.version !== undefined && b.version !== undefined) return -strverscmp(a.version, b.version) || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
    if (a.version !== undefined) return -1;
    if (b.version !== undefined) return 1;
    return a.file < b.file ? -1 : a.file > b.file ? 1 : 0;
  });
}

/** The current entries under `bootDir` (OSTree's /boot), through the `loader` symlink, sorted. */
export async function readOstreeBlsEntries(bootDir: string): Promise<BlsEntry[]> {
  const dir = join(bootDir, 'loader', 'entries');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new OtaError('ERR_OTA_BOOTLOADER', `cannot list OSTree's boot entries (${dir}): ${(e as Error).message}`, {
      hint: 'is /boot mounted, and has `ostree admin deploy` run?',
      cause: e,
    });
  }
  const entries: BlsEntry[] = [];
  for (const name of names.filter((n) => n.startsWith('ostree-') && n.endsWith('.conf')).sort()) {
    const path = join(dir, name);
    if (!(await stat(path)).isFile()) continue;
    entries.push(parseBlsEntry(await readFile(path, 'utf8'), path));
  }
  return sortBlsEntries(entries);
}
