import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { ARCHES, manifestSchema, type Arch } from '../manifest/schema.js';
import { at, importError, loadWithIncludes, mergeConfigs, parseIni, type IniFile, type IniValue, type MergedConfig } from './multistrap/ini.js';
import { render, verify, type ManifestOut } from './multistrap/render.js';
import { checkSectionKeys, convertSections, listedSections } from './multistrap/sections.js';

/**
 * `ota import multistrap`: turns a multistrap(1) configuration into an image manifest, so a team
 * can move over without rewriting its package lists by hand.
 *
 * What maps and what does not:
 * - `[General] arch` → `arch` (amd64, arm64 or armhf; anything else is an error); `--arch`
 *   (multistrap's `-a`) wins over it, and one of the two is needed.
 * - `suite=trusty universe` is the suite trusty with the extra component universe, as multistrap
 *   writes it into sources.list.
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
  /** The architecture, over the file's `arch=` (multistrap's `-a`). */
  arch?: string;
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

function convert(cfg: MergedConfig, where: string, included: string[], options: ImportOptions): ImportResult {
  const warnings: string[] = [];
  const general = generalReader(cfg);
  warnUnhandledGeneral(cfg, warnings);
  const arch = parseArch(options.arch, general.value('arch'), where);
  const name = imageName(options.name, where, warnings);
  const listed = listedSections(cfg, where, included);
  checkSectionKeys(cfg, listed, warnings);
  const converted = convertSections(cfg, listed, {
    explicitSuite: general.flag('explicitsuite'),
    keyringDir: options.keyringDir ?? '/usr/share/keyrings',
    exists: options.exists ?? existsSync,
    warnings,
  });
  if (listed.used.length === 0) {
    // multistrap with no sections builds from the host's own apt sources; the manifest says so with `host`.
    warnings.push(`${where} lists no sections in bootstrap= or aptsources=; multistrap would use the build host's apt sources, so the manifest uses \`uri: host\` and installs no extra packages`);
  }
  // multistrap installs the keyring packages into the image as well (so the device's apt can verify
  // its sources): keep them, after the listed packages.
  const packages = dedupePackages([...converted.packages, ...converted.keyringPackages], warnings);
  const variant = generalSettings(general, where, warnings);
  const manifest: ManifestOut = {
    name,
    arch,
    sources: converted.sources.length > 0 ? converted.sources : [{ uri: 'host' }],
    variant,
    packages,
    recommends: general.flag('allowrecommends'),
  };
  const yaml = render(manifest, where, included, warnings);
  verify(yaml, manifest, where);
  return { yaml, warnings };
}

interface GeneralReader {
  /** The effective (last) value of a General key, or undefined when unset or empty. */
  value(key: string): IniValue | undefined;
  flag(key: string): boolean;
}

function generalReader(cfg: MergedConfig): GeneralReader {
  const value = (key: string): IniValue | undefined => {
    const v = cfg.general.get(key)?.at(-1);
    return v && v.value !== '' ? v : undefined;
  };
  return { value, flag: (key) => value(key)?.value.toLowerCase() === 'true' };
}

function warnUnhandledGeneral(cfg: MergedConfig, warnings: string[]): void {
  for (const [key, values] of cfg.general) {
    const v = values.at(-1)!;
    if (GENERAL_HANDLED.has(key) || GENERAL_NO_EFFECT.has(key)) continue;
    const why = GENERAL_UNSUPPORTED[key];
    if (why !== undefined) {
      // `configscript=` with no value (common in shared base files) sets nothing: nothing to warn about.
      if (v.value !== '') warnings.push(`${at(v)}: [General] ${key}=${v.value} is not supported: ${why}`);
    } else warnings.push(`${at(v)}: unknown key "${key}" in [General], ignored`);
  }
}

/** The variant from omitrequired=, and warnings for the General flags that have no manifest equivalent. */
function generalSettings(general: GeneralReader, where: string, warnings: string[]): 'minbase' | 'none' {
  const omitRequired = general.flag('omitrequired');
  if (omitRequired && general.flag('addimportant')) {
    // multistrap itself refuses this combination (exit 7); a manifest for it would not mean anything.
    throw importError(`${where}: omitrequired=true and addimportant=true together: multistrap rejects this combination too`, {
      hint: 'remove one of them',
    });
  }
  if (general.flag('addimportant')) {
    warnings.push('addimportant=true: packages of Priority: important are not added automatically; list the ones the image needs under packages:');
  }
  if (general.flag('noauth')) {
    warnings.push('noauth=true: ota always verifies repository signatures; every source needs a keyring that signs it');
  }
  const multiarch = general.value('multiarch');
  if (multiarch) warnings.push(`${at(multiarch)}: multiarch=${multiarch.value} has no manifest equivalent; foreign-architecture packages are kept as NAME:ARCH`);
  return omitRequired ? 'none' : 'minbase';
}

/** `--arch` wins over `arch=`, as multistrap's `-a` does. */
function parseArch(given: string | undefined, v: IniValue | undefined, where: string): Arch {
  if (given !== undefined) {
    if (!(ARCHES as readonly string[]).includes(given)) throw importError(`--arch ${given} is not supported`, { hint: `ota builds images for ${ARCHES.join(', ')}` });
    return given as Arch;
  }
  if (!v) {
    throw importError(`${where} sets no arch= in [General]`, {
      hint: `multistrap then takes -a or the host's architecture; pass --arch (one of ${ARCHES.join(', ')}) or add arch= to the config`,
    });
  }
  if (!(ARCHES as readonly string[]).includes(v.value)) {
    throw importError(`${at(v)}: arch=${v.value} is not supported (in ${where})`, { hint: `ota builds images for ${ARCHES.join(', ')}, or pass --arch` });
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
