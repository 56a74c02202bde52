import { parseRelations } from './relations.js';
import { versionProblem } from './version.js';

/**
 * What the fields of a Packages stanza may hold. An archive's index and a lockfile are outside
 * data (a lockfile arrives in a pull request like any other file), and some of their fields
 * become paths, URLs and refs: `SHA256` names the cached .deb and its commits, `Filename` is
 * appended to the archive's URL, `Package` names files of the image's dpkg database. Each check
 * returns why a value is refused, or undefined; callers name the file and the stanza
 * (docs/conventions.md, "Errors").
 *
 * @example
 * sha256('../../tmp/victim/pwned'); // 'is not 64 lowercase hex digits: "../../tmp/victim/pwned"'
 * stanzaProblem(stanza, INDEX_FIELD_CHECKS); // { field: 'Filename', reason: 'must stay inside the archive ...' }
 */
export type FieldCheck = (value: string) => string | undefined;

/** A deb larger than this is no deb: the import holds a deb in memory. */
export const MAX_DEB_BYTES = 64 * 1024 ** 3;

const shown = (v: string): string => JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v);

const pattern =
  (re: RegExp, what: string): FieldCheck =>
  (v) =>
    re.test(v) ? undefined : `is not ${what}: ${shown(v)}`;

/** Debian policy 5.6.1: lowercase letters, digits, `+`, `-`, `.`, starting with a letter or digit. */
export const PACKAGE_NAME = /^[a-z0-9][a-z0-9.+-]{0,199}$/;
export const SHA256_HEX = /^[0-9a-f]{64}$/;

export const packageName = pattern(PACKAGE_NAME, 'a Debian package name (lowercase letters, digits, "+", "-", ".")');
export const sha256 = pattern(SHA256_HEX, '64 lowercase hex digits');
export const architecture = pattern(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a Debian architecture name');

export const version: FieldCheck = (v) => {
  if (!/^[A-Za-z0-9.+~:-]{1,200}$/.test(v)) return `is not a Debian version (letters, digits and ".+~:-"): ${shown(v)}`;
  const why = versionProblem(v);
  return why === undefined ? undefined : `is not a Debian version (${why}): ${shown(v)}`;
};

/** Relative, without `.`, `..` or empty segments, in characters that need no escaping in a URL path. */
export const filename: FieldCheck = (v) => {
  if (v.length === 0 || v.length > 1024) return `is not a relative path of 1 to 1024 characters: ${shown(v)}`;
  if (v.startsWith('/')) return `must be relative to the archive, not start with "/": ${shown(v)}`;
  const segments = v.split('/');
  if (segments.some((s) => s === '..' || s === '.' || s === '')) return `must stay inside the archive (no "..", "." or empty segments): ${shown(v)}`;
  return /^[A-Za-z0-9._+~%:@=,/-]+$/.test(v) ? undefined : `holds characters a pool path does not (letters, digits and "._+~%:@=,-/" only): ${shown(v)}`;
};

export const size: FieldCheck = (v) => {
  if (!/^[0-9]{1,12}$/.test(v)) return `is not a whole number of bytes: ${shown(v)}`;
  const n = Number(v);
  return n >= 1 && n <= MAX_DEB_BYTES ? undefined : `${v} is out of range (1 to ${MAX_DEB_BYTES} bytes)`;
};

/** A relation field on one line, as a lockfile writes it. */
export const relations: FieldCheck = (v) => {
  if (!/^[A-Za-z0-9.+~:,|()<>=![\] -]*$/.test(v)) return `holds characters no relation field on one line does: ${shown(v)}`;
  try {
    parseRelations(v);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
};

export const oneOf =
  (...values: string[]): FieldCheck =>
  (v) =>
    values.includes(v) ? undefined : `is not one of ${values.join(', ')}: ${shown(v)}`;

/** `name` or `name (version)`. */
export const source: FieldCheck = (v) => {
  const m = /^([^ ()]+)(?: \(([^()]*)\))?$/.exec(v);
  if (!m) return `is not "NAME" or "NAME (VERSION)": ${shown(v)}`;
  return packageName(m[1]!) ?? (m[2] === undefined ? undefined : version(m[2]));
};

export const word = pattern(/^[A-Za-z0-9][A-Za-z0-9/+._~-]{0,127}$/, 'a word of letters, digits and "/+._~-"');

/**
 * The fields of an archive's Packages stanza that become paths, URLs or refs. The others are read
 * as they are: archives differ in what they write there.
 */
export const INDEX_FIELD_CHECKS: Record<string, FieldCheck> = {
  Package: packageName,
  Version: version,
  Architecture: architecture,
  Filename: filename,
  Size: size,
  SHA256: sha256,
};

/** The first field of `stanza` that `checks` refuses, with the reason; undefined when all pass. */
export function stanzaProblem(stanza: Map<string, string>, checks: Record<string, FieldCheck>): { field: string; reason: string } | undefined {
  for (const [field, check] of Object.entries(checks)) {
    const value = stanza.get(field);
    if (value === undefined) continue;
    const reason = check(value);
    if (reason !== undefined) return { field, reason };
  }
  return undefined;
}
