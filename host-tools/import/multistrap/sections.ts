import { posix } from 'node:path';
import { manifestSchema, sourceSchema } from '../../manifest/schema.js';
import { at, importError, type IniSection, type IniValue, type MergedConfig } from './ini.js';

/**
 * The sections of a multistrap configuration that `bootstrap=` and `aptsources=` name, turned
 * into manifest sources and package specs: which sections count, which of their keys carry
 * over, how a keyring package becomes a key file.
 *
 * @example
 * const listed = listedSections(cfg, 'rootfs.conf', []);
 * const { sources, packages } = convertSections(cfg, listed, { explicitSuite: false, keyringDir, exists, warnings });
 */
export interface ManifestSource {
  uri: string;
  suites?: string[];
  components?: string[];
  keyring?: string | string[];
}

const SECTION_KEYS = new Set(['packages', 'source', 'keyring', 'suite', 'components', 'omitdebsrc', 'reinstall', 'additional', 'architecture']);

export interface ListedSections {
  /** Every section named in `aptsources=`, `bootstrap=` or `debootstrap=`, once, lowercased. */
  used: { name: string; from: IniValue }[];
  /** The ones multistrap installs packages from. */
  bootstrap: Set<string>;
}

/** The sections the General lists name; one that is named but not defined is an error. */
export function listedSections(cfg: MergedConfig, where: string, included: string[]): ListedSections {
  const listed = (key: string): IniValue[] => cfg.general.get(key) ?? [];
  const sectionNames = (values: IniValue[]): { name: string; from: IniValue }[] =>
    values.flatMap((v) => splitWords(v.value).map((n) => ({ name: n.toLowerCase(), from: v })));
  const bootstrap = dedupeBy(sectionNames([...listed('bootstrap'), ...listed('debootstrap')]), (s) => s.name);
  const aptsources = dedupeBy(sectionNames(listed('aptsources')), (s) => s.name);
  const used = dedupeBy([...aptsources, ...bootstrap], (s) => s.name);
  for (const ref of used) {
    if (!cfg.sections.has(ref.name)) {
      throw importError(`${at(ref.from)}: section [${ref.name}] is listed but not defined in ${where}${included.length ? ` or ${included.join(', ')}` : ''}`);
    }
  }
  return { used, bootstrap: new Set(bootstrap.map((s) => s.name)) };
}

/** Warns about keys no section should have, keys set twice, and sections nothing lists. */
export function checkSectionKeys(cfg: MergedConfig, listed: ListedSections, warnings: string[]): void {
  for (const [key, s] of cfg.sections) {
    for (const [k, values] of s.keys) {
      if (!SECTION_KEYS.has(k)) warnings.push(`${at(values[0]!)}: unknown key "${k}" in [${s.name}], ignored`);
      else if (k !== 'packages' && k !== 'additional' && values.length > 1) {
        // Only packages= may repeat in multistrap; for anything else the last line is what we can honour.
        warnings.push(`${at(values.at(-1)!)}: "${k}" is set ${values.length} times in [${s.name}]; using the last value`);
      }
    }
    if (!listed.used.some((u) => u.name === key)) {
      warnings.push(`${s.file}:${s.line}: section [${s.name}] is not listed in bootstrap= or aptsources=; skipped`);
    }
  }
}

export interface SectionOptions {
  explicitSuite: boolean;
  /** Where keyring packages put their keys. */
  keyringDir: string;
  exists: (path: string) => boolean;
  warnings: string[];
}

export interface ConvertedSections {
  sources: ManifestSource[];
  packages: string[];
  /** The keyring packages the sections name: multistrap installs them into the image too. */
  keyringPackages: string[];
}

/** Sources (one per source and suite) and package specs of the listed sections, in their order. */
export function convertSections(cfg: MergedConfig, listed: ListedSections, options: SectionOptions): ConvertedSections {
  const out: ConvertedSections = { sources: [], packages: [], keyringPackages: [] };
  const bySourceSuite = new Map<string, ManifestSource>();
  for (const ref of listed.used) {
    const s = cfg.sections.get(ref.name)!;
    const { uri, suite, components } = sourceOf(s, options.warnings);
    const keyringValue = lastValue(s, 'keyring');
    const keyrings = splitWords(keyringValue?.value ?? '');
    for (const k of keyrings) checkPackage(k, keyringValue, s.name);
    out.keyringPackages.push(...keyrings);

    const key = `${uri.replace(/\/+$/, '')} ${suite}`;
    const same = bySourceSuite.get(key);
    if (same) {
      // Two sections for one (source, suite): one manifest entry, with every component either wanted.
      same.components = dedupeBy([...(same.components ?? []), ...components], (c) => c);
    } else {
      const source: ManifestSource = { uri, suites: [suite], components };
      const keyring = keyringFiles(keyrings, { section: s, uri, ...options });
      if (keyring !== undefined) source.keyring = keyring;
      out.sources.push(source);
      bySourceSuite.set(key, source);
    }
    out.packages.push(...sectionPackages(s, listed.bootstrap.has(ref.name), suite, options));
  }
  return out;
}

function lastValue(s: IniSection, key: string): IniValue | undefined {
  const v = s.keys.get(key)?.at(-1);
  return v && v.value !== '' ? v : undefined;
}

/**
 * A section's source URI, suite and components. multistrap writes `deb SOURCE SUITE COMPONENTS`
 * into apt's sources.list, so `suite=trusty universe` is the suite trusty with the component
 * universe in front of `components=` (whose default is main): Ubuntu's shipped examples rely on it.
 */
function sourceOf(s: IniSection, warnings: string[]): { uri: string; suite: string; components: string[] } {
  const src = lastValue(s, 'source');
  const suite = lastValue(s, 'suite');
  if (!src) throw importError(`section [${s.name}] has no source= (${s.file}:${s.line})`, { hint: 'every section listed in bootstrap= or aptsources= needs source= and suite=' });
  if (/\s/.test(src.value)) {
    // The `URL ./` flat-repository form has no suite; the manifest's sources always have one.
    throw importError(`${at(src)}: [${s.name}] source=${src.value} is a flat repository, which ota does not support`, {
      hint: 'serve the packages as a normal repository with dists/SUITE and use that URL',
    });
  }
  if (!suite) throw importError(`section [${s.name}] has no suite= (${s.file}:${s.line})`, { hint: 'every section listed in bootstrap= or aptsources= needs source= and suite=' });
  const [name, ...extra] = splitWords(suite.value);
  const components = dedupeBy([...extra, ...splitWords(lastValue(s, 'components')?.value ?? 'main')], (c) => c);
  // Both become parts of the archive's URLs: what the manifest refuses is bad input here too (exit 2).
  const fields = sourceSchema.pick({ suites: true, components: true }).safeParse({ suites: [name], components });
  if (!fields.success) {
    const bad = fields.error.issues[0]!;
    throw importError(`${at(suite)}: [${s.name}] ${bad.path[0] === 'suites' ? `suite ${name}` : `components ${components.join(' ')}`}: ${bad.message}`);
  }
  return { uri: sourceUri(src, s.name, warnings), suite: name!, components };
}

/** The package specs a section adds: none unless multistrap bootstraps from it. */
function sectionPackages(s: IniSection, bootstrap: boolean, suite: string, options: SectionOptions): string[] {
  const { warnings } = options;
  if (!bootstrap) {
    warnings.push(
      `[${s.name}] is only in aptsources=, so multistrap used it for the device's apt sources but not to build; ota resolves packages from every listed source, this one included`,
    );
    if (lastValue(s, 'packages')) warnings.push(`[${s.name}] packages= are not installed: multistrap installs packages only from bootstrap= sections`);
    return [];
  }
  const foreign = lastValue(s, 'architecture')?.value;
  if (foreign) {
    warnings.push(`[${s.name}] architecture=${foreign}: its packages are imported as NAME:${foreign}; check that the image really needs foreign-architecture packages`);
  }
  const specs: string[] = [];
  for (const k of ['packages', 'additional'] as const) {
    for (const v of s.keys.get(k) ?? []) {
      for (const word of splitWords(v.value)) {
        let spec = foreign ? `${word}:${foreign}` : word;
        if (options.explicitSuite && !/[=/]/.test(spec)) spec = `${spec}/${suite}`;
        checkPackage(spec, v, s.name);
        specs.push(spec);
      }
    }
  }
  const reinstall = lastValue(s, 'reinstall');
  if (reinstall) warnings.push(`${at(reinstall)}: [${s.name}] reinstall=${reinstall.value} is not supported (native-mode reinstall); nothing is reinstalled`);
  return specs;
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
function keyringFiles(pkgs: string[], o: SectionOptions & { section: IniSection; uri: string }): string | string[] | undefined {
  if (pkgs.length === 0) {
    o.warnings.push(`[${o.section.name}] names no keyring; set keyring: for ${o.uri} in the manifest (ota verifies every source)`);
    return undefined;
  }
  const found: string[] = [];
  for (const pkg of pkgs) {
    const candidates = [posix.join(o.keyringDir, `${pkg}.gpg`)];
    const m = /^(.*)-keyring$/.exec(pkg);
    if (m && !pkg.endsWith('-archive-keyring')) candidates.push(posix.join(o.keyringDir, `${m[1]}-archive-keyring.gpg`));
    const hit = candidates.find((c) => o.exists(c));
    if (hit) found.push(hit);
    else {
      o.warnings.push(
        `[${o.section.name}] keyring=${pkg}: ${candidates.join(' or ')} not found on this machine; install ${pkg} and re-run, or set keyring: for ${o.uri} by hand`,
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

export function splitWords(s: string): string[] {
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
