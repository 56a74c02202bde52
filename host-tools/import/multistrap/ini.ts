import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { EXIT, OtaError } from '../../../common/errors.js';
import { fsReason } from '../../../common/fs-errors.js';

/**
 * Reading multistrap configurations: Config::Auto's INI dialect, `include=` cascades, and the
 * merge of a cascade into one configuration, every value remembering the file and line it came
 * from so that messages can point at it.
 *
 * @example
 * const files: IniFile[] = [];
 * await loadWithIncludes('rootfs.conf', 'rootfs.conf', [], files);
 * const cfg = mergeConfigs(files);
 */
/** One `key=value` as written, with where it was written, so messages can point at it. */
export interface IniValue {
  value: string;
  file: string;
  line: number;
}

export interface IniSection {
  /** The name as first written (for messages); lookups use the lowercased name. */
  name: string;
  file: string;
  line: number;
  /** Lowercased key → every value given for it, in order (repeats are kept: `packages=` needs them). */
  keys: Map<string, IniValue[]>;
}

export interface IniFile {
  where: string;
  general: IniSection | undefined;
  /** Lowercased section name → section, General excluded. */
  sections: Map<string, IniSection>;
}

export function at(v: { file: string; line: number }): string {
  return `${v.file}:${v.line}`;
}

export function importError(message: string, options: { hint?: string; details?: string[] } = {}): OtaError {
  // A bad multistrap file is bad input, like a bad manifest: exit 2, not 1.
  return new OtaError('ERR_OTA_IMPORT', message, { ...options, exitCode: EXIT.usage });
}

/**
 * multistrap reads its config with Config::Auto's INI format: `[section]`, `key=value`, `#` or `;`
 * comment lines. Section names are case-insensitive (multistrap lowercases them); keys are treated
 * the same way. A repeated key keeps every value: multistrap joins repeated `packages=` lines.
 */
export function parseIni(text: string, where: string): IniFile {
  const general: { current: IniSection | undefined } = { current: undefined };
  const sections = new Map<string, IniSection>();
  let section: IniSection | undefined;
  let last: IniValue | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const lineNo = i + 1;
    if (/^\s*([#;]|$)/.test(raw)) {
      last = undefined;
      continue;
    }
    // Inline comments only after whitespace: no package name or URL has " #" in it.
    const line = raw.replace(/\s+[#;].*$/, '');
    const header = /^\s*\[([^\]]*)\]\s*$/.exec(line);
    if (header) {
      const name = header[1]!.trim();
      if (name === '') throw importError(`${where}:${lineNo}: empty section name "[]"`);
      const key = name.toLowerCase();
      const existing = key === 'general' ? general.current : sections.get(key);
      // A section written twice in one file continues the first one, as Config::Auto merges them.
      section = existing ?? { name, file: where, line: lineNo, keys: new Map() };
      if (!existing) {
        if (key === 'general') general.current = section;
        else sections.set(key, section);
      }
      last = undefined;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) {
      // An indented line after a key continues it (configparser style): lets long package lists wrap.
      if (last && /^\s/.test(raw)) {
        last.value = `${last.value} ${line.trim()}`;
        continue;
      }
      throw importError(`${where}:${lineNo}: expected "key=value" or "[section]", found "${raw.trim()}"`, {
        hint: 'multistrap needs every value on the line of its key; a long packages= list may be split into several packages= lines',
      });
    }
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1).trim();
    if (key === '') throw importError(`${where}:${lineNo}: "=" without a key`);
    if (!section) throw importError(`${where}:${lineNo}: "${key}=" comes before any [section]`, { hint: 'settings go under [General] or a source section' });
    const entry: IniValue = { value, file: where, line: lineNo };
    const list = section.keys.get(key);
    if (list) list.push(entry);
    else section.keys.set(key, [entry]);
    last = entry;
  }
  return { where, general: general.current, sections };
}

export async function loadWithIncludes(path: string, shownAs: string, stack: string[], out: IniFile[]): Promise<void> {
  const abs = resolve(path);
  if (stack.includes(abs)) {
    throw importError(`include loop: ${[...stack, abs].join(' → ')}`, { hint: 'remove one of the include= lines' });
  }
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (e) {
    const from = stack.length > 0 ? ` (included from ${stack[stack.length - 1]})` : '';
    throw importError(`cannot read multistrap config ${shownAs}${from}: ${fsReason(e)}`);
  }
  const file = parseIni(text, shownAs);
  // Included files come first, so this file's settings override theirs (the cascade multistrap
  // documents: the specific file on the command line includes the shared, general one).
  for (const inc of file.general?.keys.get('include') ?? []) {
    for (const name of inc.value.split(/\s+/).filter((s) => s !== '')) {
      const target = isAbsolute(name) ? name : join(dirname(shownAs), name);
      await loadWithIncludes(target, target, [...stack, abs], out);
    }
  }
  if (!out.some((f) => resolve(f.where) === abs)) out.push(file);
}

/** General keys whose values name sections: multistrap appends these across included files. */
const SECTION_LISTS = new Set(['aptsources', 'bootstrap', 'debootstrap']);

export interface MergedConfig {
  general: Map<string, IniValue[]>;
  sections: Map<string, IniSection>;
}

/**
 * Merges files in order, later ones winning key by key. The section lists (`bootstrap=`,
 * `aptsources=`) are the exception: multistrap collects them from every file of the cascade, and
 * its own example (armel.conf including crosschroot.conf) relies on the union.
 */
export function mergeConfigs(files: IniFile[]): MergedConfig {
  const general = new Map<string, IniValue[]>();
  const sections = new Map<string, IniSection>();
  for (const f of files) {
    for (const [key, values] of f.general?.keys ?? []) {
      if (key === 'include') continue;
      if (SECTION_LISTS.has(key)) general.set(key, [...(general.get(key) ?? []), ...values]);
      else general.set(key, values);
    }
    for (const [name, s] of f.sections) {
      const prev = sections.get(name);
      if (!prev) {
        sections.set(name, { ...s, keys: new Map(s.keys) });
        continue;
      }
      for (const [key, values] of s.keys) prev.keys.set(key, values);
    }
  }
  return { general, sections };
}
