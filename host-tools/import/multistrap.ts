import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, posix, resolve } from 'node:path';
import { Document, isSeq } from 'yaml';
import { EXIT, OtaError } from '../../common/errors.js';
import { parseManifest } from '../manifest/load.js';
import { ARCHES, manifestSchema, type Arch } from '../manifest/schema.js';
import { fsReason } from '../../common/fs-errors.js';

/**
 * `ota import multistrap`: turns a multistrap(1) configuration into an image manifest, so a team
 * can move over without rewriting its package lists by hand.
 *
 * What maps and what does not:
 * - `[General] arch` → `arch` (amd64, arm64 or armhf; anything else is an error).
 * - every section named in `aptsources=` or `bootstrap=` (`debootstrap=`) → a `sources` entry,
 *   deduplicated by (source, suite); components default to `main` as multistrap's do.
 * - `packages=` (and `additional=`) of the `bootstrap=` sections → `packages`; `explicitsuite=true`
 *   pins each to its section's suite (`name/suite`), like multistrap's `apt-get install name/suite`.
 * - `keyring=` names a keyring *package*: it becomes a file path when the host has the package's
 *   keyring installed, and the package itself is added to `packages` because multistrap installs
 *   the keyring packages into the image too.
 * - `omitrequired` → `variant`, `allowrecommends` → `recommends`.
 * - hooks, scripts, `noauth`, `addimportant`, preferences and preseeds have no equivalent: they
 *   become warnings, never silently dropped.
 */
export interface ImportResult {
  /** The manifest text, with a comment header; it has been checked with `parseManifest`. */
  yaml: string;
  /** Things the user must look at: settings that did not carry over, keys to set by hand. */
  warnings: string[];
}

export interface ImportOptions {
  /** The image name; default: the config file's base name, made to fit the manifest's name rule. */
  name?: string;
  /** Where keyring packages put their keys; default `/usr/share/keyrings`. */
  keyringDir?: string;
  /** File test used for the keyring lookup (tests inject one); default `fs.existsSync`. */
  exists?: (path: string) => boolean;
}

/**
 * Converts the text of one multistrap configuration. The text must not use `include=`: this
 * function reads no files (use {@link importMultistrap} for that).
 *
 * @example
 * const { yaml, warnings } = multistrapToManifest(
 *   [
 *     '[General]',
 *     'arch=arm64',
 *     'bootstrap=Debian',
 *     'aptsources=Debian',
 *     '[Debian]',
 *     'packages=openssh-server',
 *     'source=http://mirror.example/debian',
 *     'keyring=debian-archive-keyring',
 *     'suite=bookworm',
 *   ].join('\n'),
 *   'gateway.conf',
 * );
 * // yaml: name: gateway, arch: arm64, sources: [{uri: http://mirror.example/debian, suites: [bookworm], ...}]
 */
export function multistrapToManifest(iniText: string, where: string, options: ImportOptions = {}): ImportResult {
  const file = parseIni(iniText, where);
  const include = file.general?.keys.get('include')?.find((v) => v.value.trim() !== '');
  if (include) {
    // Dropping the included file would silently lose sections and settings; refusing is safer.
    throw importError(`${at(include)}: include=${include.value.trim()} needs the included file, and this conversion reads no files`, {
      hint: 'import the file by path (importMultistrap / `ota import multistrap FILE`) so includes are followed',
    });
  }
  return convert(mergeConfigs([file]), where, [], options);
}

/**
 * Reads a multistrap configuration file, follows its `include=` files (paths relative to the file
 * that names them; an included file is merged first, so the including file's settings win), and
 * converts the result as {@link multistrapToManifest} does.
 *
 * @example
 * const { yaml, warnings } = await importMultistrap('rootfs/armhf.conf', { name: 'panel' });
 * for (const w of warnings) console.warn(`warning: ${w}`);
 * await writeFileAtomic('image.yaml', yaml);
 */
export async function importMultistrap(path: string, options: ImportOptions = {}): Promise<ImportResult> {
  const files: IniFile[] = [];
  await loadWithIncludes(path, path, [], files);
  const included = files.slice(0, -1).map((f) => f.where);
  return convert(mergeConfigs(files), path, included, options);
}

// ---------------------------------------------------------------------------------------------
// INI reading

/** One `key=value` as written, with where it was written, so messages can point at it. */
interface IniValue {
  value: string;
  file: string;
  line: number;
}

interface IniSection {
  /** The name as first written (for messages); lookups use the lowercased name. */
  name: string;
  file: string;
  line: number;
  /** Lowercased key → every value given for it, in order (repeats are kept: `packages=` needs them). */
  keys: Map<string, IniValue[]>;
}

interface IniFile {
  where: string;
  general: IniSection | undefined;
  /** Lowercased section name → section, General excluded. */
  sections: Map<string, IniSection>;
}

function at(v: { file: string; line: number }): string {
  return `${v.file}:${v.line}`;
}

function importError(message: string, options: { hint?: string; details?: string[] } = {}): OtaError {
  // A bad multistrap file is bad input, like a bad manifest: exit 2, not 1.
  return new OtaError('ERR_OTA_IMPORT', message, { ...options, exitCode: EXIT.usage });
}

/**
 * multistrap reads its config with Config::Auto's INI format: `[section]`, `key=value`, `#` or `;`
 * comment lines. Section names are case-insensitive (multistrap lowercases them); keys are treated
 * the same way. A repeated key keeps every value: multistrap joins repeated `packages=` lines.
 */
function parseIni(text: string, where: string): IniFile {
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

async function loadWithIncludes(path: string, shownAs: string, stack: string[], out: IniFile[]): Promise<void> {
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

// ---------------------------------------------------------------------------------------------
// Merging included files

/** General keys whose values name sections: multistrap appends these across included files. */
const SECTION_LISTS = new Set(['aptsources', 'bootstrap', 'debootstrap']);

interface MergedConfig {
  general: Map<string, IniValue[]>;
  sections: Map<string, IniSection>;
}

/**
 * Merges files in order, later ones winning key by key. The section lists (`bootstrap=`,
 * `aptsources=`) are the exception: multistrap collects them from every file of the cascade, and
 * its own example (armel.conf including crosschroot.conf) relies on the union.
 */
function mergeConfigs(files: IniFile[]): MergedConfig {
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

// ---------------------------------------------------------------------------------------------
// Conversion

/** General keys that only steer how multistrap lays out or cleans its own output: no effect on an image. */
const GENERAL_NO_EFFECT = new Set([
  'directory',
  'cleanup',
  'unpack',
  'forceunpack',
  'tarballname',
  'omitpreinst',
  'ignorenativearch',
  'markauto',
  'retries',
]);
/** General keys with an effect ota cannot reproduce: each set one gets a warning. */
const GENERAL_UNSUPPORTED: Record<string, string> = {
  configscript: 'config scripts are not run; put that configuration into the image another way',
  setupscript: 'setup scripts are not run; put that configuration into the image another way',
  hookdir: 'hook scripts are not run; put what they do into the image another way',
  aptpreferences: 'apt preferences are not read; express pins as a source `priority:` or `name=VERSION`',
  debconfseed: 'debconf preseeds are not applied',
  retainsources: 'source packages are not collected',
};
const GENERAL_HANDLED = new Set([
  'arch',
  'aptsources',
  'bootstrap',
  'debootstrap',
  'noauth',
  'explicitsuite',
  'omitrequired',
  'addimportant',
  'allowrecommends',
  'multiarch',
  'include',
]);
const SECTION_KEYS = new Set(['packages', 'source', 'keyring', 'suite', 'components', 'omitdebsrc', 'reinstall', 'additional', 'architecture']);

interface ManifestSource {
  uri: string;
  suites?: string[];
  components?: string[];
  keyring?: string | string[];
}

interface ManifestOut {
  name: string;
  arch: Arch;
  sources: ManifestSource[];
  variant: 'minbase' | 'none';
  packages: string[];
  recommends: boolean;
}

function convert(cfg: MergedConfig, where: string, included: string[], options: ImportOptions): ImportResult {
  const warnings: string[] = [];
  const keyringDir = options.keyringDir ?? '/usr/share/keyrings';
  const exists = options.exists ?? existsSync;

  /** The effective (last) value of a General key, or undefined when unset or empty. */
  const generalValue = (key: string): IniValue | undefined => {
    const v = cfg.general.get(key)?.at(-1);
    return v && v.value !== '' ? v : undefined;
  };
  const flag = (key: string): boolean => generalValue(key)?.value.toLowerCase() === 'true';

  for (const [key, values] of cfg.general) {
    const v = values.at(-1)!;
    if (GENERAL_HANDLED.has(key) || GENERAL_NO_EFFECT.has(key)) continue;
    const why = GENERAL_UNSUPPORTED[key];
    if (why !== undefined) {
      // `configscript=` with no value (common in shared base files) sets nothing: nothing to warn about.
      if (v.value !== '') warnings.push(`${at(v)}: [General] ${key}=${v.value} is not supported: ${why}`);
    } else warnings.push(`${at(v)}: unknown key "${key}" in [General], ignored`);
  }

  const arch = parseArch(generalValue('arch'), where);
  const name = imageName(options.name, where, warnings);

  const listed = (key: string): IniValue[] => cfg.general.get(key) ?? [];
  const sectionNames = (values: IniValue[]): { name: string; from: IniValue }[] =>
    values.flatMap((v) => v.value.split(/\s+/).filter((s) => s !== '').map((n) => ({ name: n.toLowerCase(), from: v })));
  const bootstrap = dedupeBy(sectionNames([...listed('bootstrap'), ...listed('debootstrap')]), (s) => s.name);
  const aptsources = dedupeBy(sectionNames(listed('aptsources')), (s) => s.name);
  const used = dedupeBy([...aptsources, ...bootstrap], (s) => s.name);
  const bootstrapSet = new Set(bootstrap.map((s) => s.name));

  for (const ref of used) {
    if (!cfg.sections.has(ref.name)) {
      throw importError(`${at(ref.from)}: section [${ref.name}] is listed but not defined in ${where}${included.length ? ` or ${included.join(', ')}` : ''}`);
    }
  }
  for (const [key, s] of cfg.sections) {
    for (const [k, values] of s.keys) {
      if (!SECTION_KEYS.has(k)) warnings.push(`${at(values[0]!)}: unknown key "${k}" in [${s.name}], ignored`);
      else if (k !== 'packages' && k !== 'additional' && values.length > 1) {
        // Only packages= may repeat in multistrap; for anything else the last line is what we can honour.
        warnings.push(`${at(values.at(-1)!)}: "${k}" is set ${values.length} times in [${s.name}]; using the last value`);
      }
    }
    if (!used.some((u) => u.name === key)) {
      warnings.push(`${s.file}:${s.line}: section [${s.name}] is not listed in bootstrap= or aptsources=; skipped`);
    }
  }

  const explicitSuite = flag('explicitsuite');
  const sources: ManifestSource[] = [];
  const sourceKey = new Map<string, ManifestSource>();
  const packages: string[] = [];
  const keyringPackages: string[] = [];
  for (const ref of used) {
    const s = cfg.sections.get(ref.name)!;
    const val = (k: string): IniValue | undefined => {
      const v = s.keys.get(k)?.at(-1);
      return v && v.value !== '' ? v : undefined;
    };
    const src = val('source');
    const suite = val('suite');
    if (!src) throw importError(`section [${s.name}] has no source= (${s.file}:${s.line})`, { hint: 'every section listed in bootstrap= or aptsources= needs source= and suite=' });
    if (/\s/.test(src.value)) {
      // The `URL ./` flat-repository form has no suite; the manifest's sources always have one.
      throw importError(`${at(src)}: [${s.name}] source=${src.value} is a flat repository, which ota does not support`, {
        hint: 'serve the packages as a normal repository with dists/SUITE and use that URL',
      });
    }
    if (!suite) throw importError(`section [${s.name}] has no suite= (${s.file}:${s.line})`, { hint: 'every section listed in bootstrap= or aptsources= needs source= and suite=' });
    if (/\s/.test(suite.value)) throw importError(`${at(suite)}: [${s.name}] suite=${suite.value}: one suite per section`);

    const uri = sourceUri(src, s.name, warnings);
    const components = splitWords(val('components')?.value ?? 'main'); // multistrap's default
    const keyringValue = val('keyring');
    const keyrings = splitWords(keyringValue?.value ?? '');
    for (const k of keyrings) checkPackage(k, keyringValue, s.name);
    keyringPackages.push(...keyrings);

    const dedupe = `${uri.replace(/\/+$/, '')} ${suite.value}`;
    const same = sourceKey.get(dedupe);
    if (same) {
      // Two sections for one (source, suite): one manifest entry, with every component either wanted.
      same.components = dedupeBy([...(same.components ?? []), ...components], (c) => c);
    } else {
      const out: ManifestSource = { uri, suites: [suite.value], components };
      const keyring = keyringFiles(keyrings, s, uri, keyringDir, exists, warnings);
      if (keyring !== undefined) out.keyring = keyring;
      sources.push(out);
      sourceKey.set(dedupe, out);
    }

    if (!bootstrapSet.has(ref.name)) {
      warnings.push(
        `[${s.name}] is only in aptsources=, so multistrap used it for the device's apt sources but not to build; ota resolves packages from every listed source, this one included`,
      );
      if (val('packages')) warnings.push(`[${s.name}] packages= are not installed: multistrap installs packages only from bootstrap= sections`);
      continue;
    }
    const foreign = val('architecture')?.value;
    if (foreign) {
      warnings.push(`[${s.name}] architecture=${foreign}: its packages are imported as NAME:${foreign}; check that the image really needs foreign-architecture packages`);
    }
    for (const k of ['packages', 'additional'] as const) {
      for (const v of s.keys.get(k) ?? []) {
        for (const word of splitWords(v.value)) {
          let spec = foreign ? `${word}:${foreign}` : word;
          if (explicitSuite && !/[=/]/.test(spec)) spec = `${spec}/${suite.value}`;
          checkPackage(spec, v, s.name);
          packages.push(spec);
        }
      }
    }
    const reinstall = val('reinstall');
    if (reinstall) warnings.push(`${at(reinstall)}: [${s.name}] reinstall=${reinstall.value} is not supported (native-mode reinstall); nothing is reinstalled`);
  }

  if (used.length === 0) {
    // multistrap with no sections builds from the host's own apt sources; the manifest says so with `host`.
    warnings.push(`${where} lists no sections in bootstrap= or aptsources=; multistrap would use the build host's apt sources, so the manifest uses \`uri: host\` and installs no extra packages`);
  }
  // multistrap installs the keyring packages into the image as well (so the device's apt can verify
  // its sources): keep them, after the listed packages.
  const allPackages = dedupePackages([...packages, ...keyringPackages], warnings);

  const omitRequired = flag('omitrequired');
  if (omitRequired && flag('addimportant')) {
    // multistrap itself refuses this combination (exit 7); a manifest for it would not mean anything.
    throw importError(`${where}: omitrequired=true and addimportant=true together: multistrap rejects this combination too`, {
      hint: 'remove one of them',
    });
  }
  if (flag('addimportant')) {
    warnings.push('addimportant=true: packages of Priority: important are not added automatically; list the ones the image needs under packages:');
  }
  if (flag('noauth')) {
    warnings.push('noauth=true: ota always verifies repository signatures; every source needs a keyring that signs it');
  }
  const multiarch = generalValue('multiarch');
  if (multiarch) warnings.push(`${at(multiarch)}: multiarch=${multiarch.value} has no manifest equivalent; foreign-architecture packages are kept as NAME:ARCH`);

  const manifest: ManifestOut = {
    name,
    arch,
    sources: sources.length > 0 ? sources : [{ uri: 'host' }],
    variant: omitRequired ? 'none' : 'minbase',
    packages: allPackages,
    recommends: flag('allowrecommends'),
  };
  const yaml = render(manifest, where, included, warnings);
  verify(yaml, manifest, where);
  return { yaml, warnings };
}

function parseArch(v: IniValue | undefined, where: string): Arch {
  if (!v) {
    throw importError(`${where} sets no arch= in [General]`, {
      hint: `multistrap then takes -a or the host's architecture; add arch= (one of ${ARCHES.join(', ')}) to the config`,
    });
  }
  if (!(ARCHES as readonly string[]).includes(v.value)) {
    throw importError(`${at(v)}: arch=${v.value} is not supported (in ${where})`, { hint: `ota builds images for ${ARCHES.join(', ')}` });
  }
  return v.value as Arch;
}

function imageName(given: string | undefined, where: string, warnings: string[]): string {
  if (given !== undefined) {
    if (!manifestSchema.shape.name.safeParse(given).success) {
      throw importError(`image name "${given}" is not valid: use lowercase letters, digits, ".", "+" and "-", starting with a letter or digit`);
    }
    return given;
  }
  const base = basename(where).replace(/\.[^.]*$/, '');
  const name = base
    .toLowerCase()
    .replace(/[^a-z0-9.+-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/-{2,}/g, '-')
    .replace(/[-.+]+$/, '');
  if (name === '') {
    warnings.push(`cannot make an image name from "${basename(where)}"; using "image" (set name: or pass a name)`);
    return 'image';
  }
  return name;
}

function sourceUri(src: IniValue, section: string, warnings: string[]): string {
  // multistrap's docs tell people to write copy:// for local repositories (so apt copies the .debs
  // into the rootfs); for ota a local repository is just a file: URL.
  const copy = /^copy:\/\/(.*)$/.exec(src.value);
  if (copy) {
    const uri = `file://${copy[1]}`;
    warnings.push(`${at(src)}: [${section}] source=${src.value} became ${uri}`);
    return uri;
  }
  if (!/^(https?:\/\/|file:)/.test(src.value) && !src.value.includes('${')) {
    warnings.push(`${at(src)}: [${section}] source=${src.value} is not an http(s) or file: URL; ota lock may not be able to fetch it`);
  }
  return src.value;
}

/**
 * multistrap names keyring *packages*; the manifest wants key files. Most keyring packages ship
 * `/usr/share/keyrings/<package>.gpg`; Ubuntu's `ubuntu-keyring` ships
 * `ubuntu-archive-keyring.gpg`, hence the second guess. Only a file that exists is used: a guessed
 * path that is not there would fail later, far from the cause.
 */
function keyringFiles(
  pkgs: string[],
  s: IniSection,
  uri: string,
  dir: string,
  exists: (p: string) => boolean,
  warnings: string[],
): string | string[] | undefined {
  if (pkgs.length === 0) {
    warnings.push(`[${s.name}] names no keyring; set keyring: for ${uri} in the manifest (ota verifies every source)`);
    return undefined;
  }
  const found: string[] = [];
  for (const pkg of pkgs) {
    const candidates = [posix.join(dir, `${pkg}.gpg`)];
    const m = /^(.*)-keyring$/.exec(pkg);
    if (m && !pkg.endsWith('-archive-keyring')) candidates.push(posix.join(dir, `${m[1]}-archive-keyring.gpg`));
    const hit = candidates.find((c) => exists(c));
    if (hit) found.push(hit);
    else {
      warnings.push(
        `[${s.name}] keyring=${pkg}: ${candidates.join(' or ')} not found on this machine; install ${pkg} and re-run, or set keyring: for ${uri} by hand`,
      );
    }
  }
  if (found.length === 0) return undefined;
  return found.length === 1 ? found[0]! : found;
}

function checkPackage(spec: string, v: IniValue | undefined, section: string): void {
  if (manifestSchema.shape.packages.safeParse([spec]).success) return;
  const where = v ? `${at(v)}: ` : '';
  throw importError(`${where}[${section}] "${spec}" is not a package name the manifest accepts`, {
    hint: 'use NAME, NAME=VERSION or NAME/SUITE',
  });
}

/** Keeps the first spec for each package name; a later one asking for something else is reported. */
function dedupePackages(specs: string[], warnings: string[]): string[] {
  const byName = new Map<string, string>();
  for (const spec of specs) {
    const name = spec.replace(/[=/].*$/, '');
    const prev = byName.get(name);
    if (prev === undefined) byName.set(name, spec);
    // A bare name adds nothing to a pinned one (a keyring package also listed as name/suite).
    else if (prev !== spec && spec !== name) warnings.push(`package ${name} is listed as both "${prev}" and "${spec}"; kept "${prev}"`);
  }
  return [...byName.values()];
}

function splitWords(s: string): string[] {
  return s.split(/\s+/).filter((w) => w !== '');
}

function dedupeBy<T>(items: T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((t) => {
    const k = key(t);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Output

function render(m: ManifestOut, where: string, included: string[], warnings: string[]): string {
  // Keys in the schema's order; `board` and `exclude` have no multistrap counterpart and are left out.
  const doc = new Document({
    name: m.name,
    arch: m.arch,
    sources: m.sources,
    variant: m.variant,
    packages: m.packages,
    recommends: m.recommends,
  });
  // Short lists inline (`suites: [bookworm]`), packages one per line so later diffs stay readable.
  const sources = doc.get('sources', true);
  if (isSeq(sources)) {
    for (let i = 0; i < sources.items.length; i++) {
      for (const k of ['suites', 'components', 'keyring']) {
        const node = doc.getIn(['sources', i, k], true);
        if (isSeq(node)) node.flow = true;
      }
    }
  }
  const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');
  const header = [`# imported from ${oneLine(where)} by ota import multistrap`];
  if (included.length > 0) header.push(`# (with ${included.map(oneLine).join(', ')} included)`);
  // The warnings travel with the file, so whoever opens it later sees what still needs doing.
  for (const w of warnings) header.push(`# warning: ${oneLine(w)}`);
  return `${header.join('\n')}\n${doc.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
}

/**
 * The output must load as a manifest and say what the conversion meant; otherwise the importer
 * has a bug or met input it does not understand, and the user gets an error instead of a file that
 * fails later in `ota lock`.
 */
function verify(yaml: string, m: ManifestOut, where: string): void {
  let parsed;
  try {
    parsed = parseManifest(yaml, `manifest converted from ${where}`);
  } catch (e) {
    const err = e as OtaError;
    throw new OtaError('ERR_OTA_IMPORT', `converting ${where} produced an invalid manifest: ${err.message}`, {
      details: err.details,
      hint: 'this is a bug in ota import multistrap; please report it with the multistrap config',
      cause: e,
    });
  }
  const expected = manifestSchema.parse(m);
  if (JSON.stringify(parsed) !== JSON.stringify(expected)) {
    throw new Error(`converting ${where}: the written manifest does not read back as converted; this is a bug`);
  }
}
