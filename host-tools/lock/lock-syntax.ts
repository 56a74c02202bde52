import { OtaError } from '../../common/errors.js';
import type { Stanza } from '../apt/control.js';
import { architecture, oneOf, packageName, relations, sha256, size, source, stanzaProblem, filename, version, word, type FieldCheck } from '../apt/field-syntax.js';
import { ARCHES, BOARD_NAME, IMAGE_NAME, LOCAL_DEB_PATH, MAX_LOCAL_DEBS, PACKAGE_SPEC } from '../manifest/schema.js';

/**
 * Every field of a lockfile, checked before any of it is used. A lockfile arrives in a pull
 * request like any other file, and its fields become paths (the deb cache, the board folder),
 * URLs (the archive and the pool path) and refs (the image and the debs' commits); one bad field
 * refuses the whole lock (exit 2) naming the file, the stanza, the field and the reason, before
 * anything is fetched or written. A package's origin must also be one of the sources the header
 * lists, so a stanza cannot send the build to another server. See docs/lock.md.
 *
 * @example
 * checkLockSyntax(parseStanzas(text, { strict: true }), 'image.lock'); // throws ERR_OTA_LOCKFILE, or returns
 */

/** More packages than any image has: a lock beyond it is refused before it costs memory. */
export const MAX_LOCK_PACKAGES = 20_000;

const HINT = 'a lockfile is written by `ota lock`: check where this edit came from, then regenerate it with `ota lock --update <manifest>`';

const printable = /^[\x21-\x7e]+$/;

/**
 * The Origin-Uri (and Origin-Suite) of a package that came from one of the manifest's local
 * debs (`Local-Debs` in the header): its Filename is that path, relative to the manifest's folder.
 */
export const LOCAL_ORIGIN_URI = 'local';

/** An archive's URL as a Sources line and Origin-Uri hold it: http(s) or file, no query or fragment. */
export const archiveUri: FieldCheck = (v) => {
  if (!printable.test(v) || !/^(https?:\/\/[^/?#]+|file:)[^?#]*$/.test(v)) return `is not an http(s):// or file: URL without "?" or "#": ${JSON.stringify(v.slice(0, 80))}`;
  try {
    new URL(v);
    return undefined;
  } catch {
    return `is not a URL: ${JSON.stringify(v.slice(0, 80))}`;
  }
};

/** A suite (`bookworm`, `bookworm-security`, a flat repository's `./`), never leaving the archive. */
export const suite: FieldCheck = (v) =>
  /^[A-Za-z0-9._~+/-]{1,128}$/.test(v) && !v.split('/').includes('..') ? undefined : `is not a suite name inside the archive: ${JSON.stringify(v.slice(0, 80))}`;

const words =
  (check: FieldCheck): FieldCheck =>
  (v) => {
    for (const w of v.split(' ').filter(Boolean)) {
      const why = check(w);
      if (why) return why;
    }
    return undefined;
  };

const HEADER_CHECKS: Record<string, FieldCheck> = {
  'Lockfile-Version': oneOf('1'),
  Image: (v) => (IMAGE_NAME.test(v) ? undefined : `is not an image name: ${JSON.stringify(v.slice(0, 80))}`),
  Architecture: oneOf(...ARCHES),
  Variant: oneOf('minbase', 'none'),
  Recommends: oneOf('yes', 'no'),
  'Manifest-SHA256': sha256,
  Requested: words((w) => (PACKAGE_SPEC.test(w) ? undefined : `holds ${JSON.stringify(w.slice(0, 80))}, which is not a package spec`)),
  Exclude: words(packageName),
  Board: (v) => (BOARD_NAME.test(v) ? undefined : `is not a board name: ${JSON.stringify(v.slice(0, 80))}`),
  'Board-SHA256': sha256,
  'Variant-Seed': words(packageName),
  'Board-Packages': words(packageName),
  'Board-Components': words(word),
  'Local-Debs': (v) =>
    v.split(' ').length > MAX_LOCAL_DEBS
      ? `lists more than ${MAX_LOCAL_DEBS} debs`
      : words((w) => (LOCAL_DEB_PATH.test(w) ? undefined : `holds ${JSON.stringify(w.slice(0, 80))}, which is not a .deb path inside the manifest's folder`))(v),
  Sources: (v) => v.split('\n').filter((l) => l.trim() !== '').map(sourcesLineProblem).find((p) => p !== undefined),
};
const HEADER_REQUIRED = ['Lockfile-Version', 'Image', 'Architecture', 'Variant', 'Recommends', 'Manifest-SHA256', 'Sources'];

const PACKAGE_CHECKS: Record<string, FieldCheck> = {
  Package: packageName,
  Version: version,
  Architecture: architecture,
  'Multi-Arch': oneOf('same', 'foreign', 'allowed', 'no'),
  Essential: oneOf('yes', 'no'),
  Priority: word,
  Section: word,
  Source: source,
  'Pre-Depends': relations,
  Depends: relations,
  Recommends: relations,
  Provides: relations,
  Conflicts: relations,
  Breaks: relations,
  Replaces: relations,
  Filename: filename,
  Size: size,
  SHA256: sha256,
  'Origin-Uri': (v) => (v === LOCAL_ORIGIN_URI ? undefined : archiveUri(v)),
  'Origin-Suite': suite,
  'Origin-Component': (v) => (v === '-' ? undefined : word(v)),
};
const PACKAGE_REQUIRED = ['Package', 'Version', 'Architecture', 'Filename', 'Size', 'SHA256', 'Origin-Uri', 'Origin-Suite', 'Origin-Component'];

/** The first field of one package stanza (as a lock holds it) that is not what `ota lock` writes; undefined when all pass. */
export function packageStanzaProblem(stanza: Stanza): { field: string; reason: string } | undefined {
  const unknown = [...stanza.keys()].find((f) => !Object.hasOwn(PACKAGE_CHECKS, f));
  if (unknown) return { field: unknown, reason: 'is not a field a lock holds' };
  const missing = PACKAGE_REQUIRED.find((f) => !stanza.has(f));
  if (missing) return { field: missing, reason: 'is missing' };
  return stanzaProblem(stanza, PACKAGE_CHECKS);
}

/** One Sources line: `spec uri suite components priority inrelease-sha256 date`. */
function sourcesLineProblem(line: string): string | undefined {
  const parts = line.trim().split(' ');
  const shown = JSON.stringify(line.trim().slice(0, 120));
  if (parts.length !== 7) return `line ${shown} does not have the 7 fields "spec uri suite components priority sha256 date"`;
  const [spec, uri, suiteName, comps, prio, sha, date] = parts as [string, string, string, string, string, string, string];
  const why =
    (printable.test(spec) ? undefined : `spec ${JSON.stringify(spec)} is not printable`) ??
    archiveUri(uri) ??
    suite(suiteName) ??
    (comps === '-' ? undefined : comps.split(',').map(word).find((p) => p !== undefined)) ??
    (/^-?[0-9]{1,4}$/.test(prio) && Math.abs(Number(prio)) <= 1000 ? undefined : `priority ${JSON.stringify(prio)} is not a whole number from -1000 to 1000`) ??
    sha256(sha) ??
    (date === '-' || (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(date) && Number.isFinite(Date.parse(date))) ? undefined : `date ${JSON.stringify(date)} is not "-" or YYYY-MM-DDTHH:MM:SSZ`);
  return why === undefined ? undefined : `line ${shown}: ${why}`;
}

function refuse(message: string): OtaError {
  return new OtaError('ERR_OTA_LOCKFILE', message, { hint: HINT });
}

function checkFields(stanza: Stanza, checks: Record<string, FieldCheck>, required: string[], at: string): void {
  for (const field of stanza.keys()) {
    if (!Object.hasOwn(checks, field)) throw refuse(`${at}: unknown field ${JSON.stringify(field.slice(0, 60))}`);
  }
  const missing = required.find((f) => !stanza.has(f));
  if (missing) throw refuse(`${at} has no ${missing} (is the file cut short?)`);
  const bad = stanzaProblem(stanza, checks);
  if (bad) throw refuse(`${at}: ${bad.field} ${bad.reason}`);
}

/** Throws ERR_OTA_LOCKFILE for the first field of the lock that is not what `ota lock` writes. */
export function checkLockSyntax(stanzas: Stanza[], where: string): void {
  const [header, ...packages] = stanzas;
  if (!header) throw refuse(`${where} is empty`);
  checkFields(header, HEADER_CHECKS, HEADER_REQUIRED, `${where}: the header`);
  if (header.has('Board')) {
    const missing = ['Board-SHA256', 'Board-Packages'].find((f) => !header.has(f));
    if (missing) throw refuse(`${where}: the header names a Board but has no ${missing}`);
  }
  if (packages.length > MAX_LOCK_PACKAGES) throw refuse(`${where} has ${packages.length} package stanzas; ota reads at most ${MAX_LOCK_PACKAGES}`);
  const sources = header
    .get('Sources')!
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(' '));
  if (sources.length === 0) throw refuse(`${where}: the header's Sources lists no source (is the file cut short?)`);
  const arch = header.get('Architecture')!;
  const local = (header.get('Local-Debs') ?? '').split(' ').filter(Boolean);
  const localSeen = new Set<string>();
  packages.forEach((p, i) => {
    const at = `${where}: package stanza ${i + 1}${p.has('Package') ? ` (${p.get('Package')!.slice(0, 60)})` : ''}`;
    checkFields(p, PACKAGE_CHECKS, PACKAGE_REQUIRED, at);
    if (p.get('Architecture') !== arch && p.get('Architecture') !== 'all') throw refuse(`${at}: Architecture ${p.get('Architecture')} is neither ${arch} nor all`);
    const [uri, suiteName, component] = [p.get('Origin-Uri')!, p.get('Origin-Suite')!, p.get('Origin-Component')!];
    if (uri === LOCAL_ORIGIN_URI) return checkLocalStanza(p, { at, local, seen: localSeen });
    const from = sources.find((s) => s[1] === uri && s[2] === suiteName);
    if (!from) throw refuse(`${at}: its origin ${uri} ${suiteName} is not one of the Sources in the header`);
    const comps = from[3] === '-' ? [] : from[3]!.split(',');
    if (component === '-' ? comps.length > 0 : !comps.includes(component)) {
      throw refuse(`${at}: Origin-Component ${component} is not one the header's Sources line for ${uri} ${suiteName} read (${from[3]})`);
    }
  });
  const unlocked = local.find((f) => !localSeen.has(f));
  if (unlocked) throw refuse(`${where}: the header's Local-Debs lists ${unlocked}, but no package stanza comes from it`);
}

/**
 * A package from a local deb: its Filename is one of the header's Local-Debs (so a stanza cannot
 * name any other file of the project), each of them once.
 */
function checkLocalStanza(p: Stanza, ctx: { at: string; local: string[]; seen: Set<string> }): void {
  const file = p.get('Filename')!;
  if (p.get('Origin-Suite') !== LOCAL_ORIGIN_URI || p.get('Origin-Component') !== '-') throw refuse(`${ctx.at}: a package from a local deb has Origin-Suite ${LOCAL_ORIGIN_URI} and Origin-Component -`);
  if (!ctx.local.includes(file)) throw refuse(`${ctx.at}: its Filename ${file} is not one of the header's Local-Debs`);
  if (ctx.seen.has(file)) throw refuse(`${ctx.at}: a second stanza from the local deb ${file}`);
  ctx.seen.add(file);
}
