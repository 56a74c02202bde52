import { OtaError } from './errors.js';

/**
 * Debian version parsing and ordering, bit for bit as dpkg does it (lib/dpkg/version.c and
 * lib/dpkg/parse.c `parseversion`, dpkg 1.21). apt and dpkg must agree with us on every comparison,
 * or a lockfile could pin a version that apt then calls "older" and refuses, so nothing here is
 * "close enough": the integration test checks thousands of real archive versions against
 * `dpkg --compare-versions`.
 */

/**
 * A parsed Debian version `[epoch:]upstream[-revision]`.
 *
 * @example
 * parseVersion('1:2.36-9+deb12u4'); // { epoch: 1, upstream: '2.36', revision: '9+deb12u4' }
 */
export interface DebVersion {
  epoch: number;
  upstream: string;
  /** Empty when the version has no `-`; dpkg then orders it like revision `0`. */
  revision: string;
}

/**
 * A dependency relation operator as written in Depends and friends, after normalisation.
 *
 * @example
 * const op: Relation = '>=';
 */
export type Relation = '<<' | '<=' | '=' | '>=' | '>>';

// --- character classes -------------------------------------------------------------------------
// ASCII only, like dpkg's c_isdigit/c_isalpha: a version is bytes, not a locale's letters.

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57; // 0-9
}

function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122); // A-Z a-z
}

/** dpkg's c_isblank: space and tab, the only whitespace it trims. */
function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}

/** C isspace() in the C locale, which strtol skips before a number. */
function isStrtolSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13); // space \t \n \v \f \r
}

const PLUS = 43; // '+'
const MINUS = 45; // '-'
const DOT = 46; // '.'
const COLON = 58; // ':'
const TILDE = 126; // '~'
const ZERO = 48; // '0'

// --- scanning ----------------------------------------------------------------------------------

/** Where the parts of a valid version lie in its string, so comparing needs no substrings. */
interface Located {
  epoch: number;
  upStart: number;
  upEnd: number;
  revStart: number;
  /** End of the version proper: the string's length less any trailing blanks. */
  revEnd: number;
}

const INT_MAX = 2147483647;

/**
 * Validates `v` step by step as dpkg's parseversion does, checks in dpkg's order so that the reason
 * is dpkg's. Returns where its parts are, or why it is invalid. dpkg only *warns* about the last
 * three reasons (bad first character, bad characters), but `dpkg --validate-version` rejects them
 * and so do we: a version that breaks them cannot come from a sane archive.
 */
function scan(v: string): Located | string {
  let start = 0;
  let end = v.length;
  // dpkg trims leading and trailing blanks, and refuses blanks in the middle.
  while (start < end && isBlank(v.charCodeAt(start))) start++;
  if (start === end) return 'version string is empty';
  let stop = start;
  while (stop < end && !isBlank(v.charCodeAt(stop))) stop++;
  for (let p = stop; p < end; p++) {
    if (!isBlank(v.charCodeAt(p))) return 'version string has embedded spaces';
  }
  end = stop;

  // The epoch is whatever precedes the FIRST colon; later colons belong to the upstream part.
  let epoch = 0;
  let upStart = start;
  const colon = v.indexOf(':', start);
  if (colon !== -1 && colon < end) {
    // dpkg reads the epoch with strtol, so leading isspace() characters and an optional sign are
    // accepted ("\n1:", "+1:", even "-0:"); we mirror that instead of being stricter, so that we
    // agree with dpkg on what is valid. (Blanks were trimmed above; \n\v\f\r can remain.)
    let p = start;
    while (p < colon && isStrtolSpace(v.charCodeAt(p))) p++;
    const sign = v.charCodeAt(p);
    const negative = sign === MINUS;
    if (sign === PLUS || sign === MINUS) p++;
    const digitsStart = p;
    while (p < colon && isDigit(v.charCodeAt(p))) p++;
    if (p === digitsStart) return 'epoch in version is empty'; // strtol read nothing
    if (p !== colon) return 'epoch in version is not number';
    let q = digitsStart;
    while (q < p && v.charCodeAt(q) === ZERO) q++; // leading zeros: "00001:" is epoch 1
    if (q < p && negative) return 'epoch in version is negative';
    // More than 10 significant digits is over INT_MAX for sure; 10 fit a double exactly.
    if (p - q > 10) return 'epoch in version is too big';
    epoch = q < p ? Number(v.slice(q, p)) : 0;
    if (epoch > INT_MAX) return 'epoch in version is too big';
    if (colon + 1 === end) return 'nothing after colon in version number';
    upStart = colon + 1;
  }

  // The revision is whatever follows the LAST hyphen, so upstream versions may contain hyphens.
  let upEnd = end;
  let revStart = end;
  const hyphen = v.lastIndexOf('-', end - 1);
  if (hyphen >= upStart) {
    if (hyphen + 1 === end) return 'revision number is empty';
    upEnd = hyphen;
    revStart = hyphen + 1;
  }
  if (upStart === upEnd) return 'version number is empty';
  if (!isDigit(v.charCodeAt(upStart))) return 'version number does not start with digit';
  for (let p = upStart + 1; p < upEnd; p++) {
    const c = v.charCodeAt(p);
    if (!isDigit(c) && !isAlpha(c) && c !== DOT && c !== MINUS && c !== PLUS && c !== TILDE && c !== COLON) {
      return 'invalid character in version number';
    }
  }
  for (let p = revStart; p < end; p++) {
    const c = v.charCodeAt(p);
    if (!isDigit(c) && !isAlpha(c) && c !== DOT && c !== PLUS && c !== TILDE) {
      return 'invalid character in revision number';
    }
  }

  return { epoch, upStart, upEnd, revStart, revEnd: end };
}

// compareVersions is called millions of times by the resolver, on a working set of at most some
// tens of thousands of distinct versions (bookworm main: ~21k). Scanning costs ~140 ns a version,
// a Map hit ~20 ns (measured: ~340 ns a comparison without the cache, ~85 ns with it), so where
// the parts of valid versions lie is cached by string. The bound keeps memory at a few MB whatever
// the caller feeds us; when it is reached the cache simply starts over, which is cheaper than any
// LRU bookkeeping and, at this size, rare. Invalid versions are never cached: they throw.
const CACHE_LIMIT = 1 << 16;
const cache = new Map<string, Located>();

function locate(v: string): Located {
  let loc = cache.get(v);
  if (loc === undefined) {
    const r = scan(v);
    if (typeof r === 'string') throw invalid(v, r);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(v, r);
    loc = r;
  }
  return loc;
}

function invalid(v: string, reason: string): OtaError {
  // JSON.stringify so that blanks, tabs and control characters are visible in the message.
  return new OtaError('ERR_OTA_INDEX', `invalid Debian version ${JSON.stringify(v)}: ${reason}`, {
    hint: 'a Debian version is [epoch:]upstream[-revision], e.g. 1:2.36-9+deb12u4 (see deb-version(7))',
  });
}

/** Why `v` is not a valid Debian version (dpkg's words), or undefined when it is one. */
export function versionProblem(v: string): string | undefined {
  const r = scan(v);
  return typeof r === 'string' ? r : undefined;
}

/**
 * Parses a Debian version as dpkg does; throws for anything `dpkg --validate-version` rejects.
 * Leading and trailing blanks are ignored, like dpkg.
 *
 * @throws OtaError `ERR_OTA_INDEX`, naming the version and what is wrong with it.
 * @example
 * parseVersion('2.36-9');        // { epoch: 0, upstream: '2.36', revision: '9' }
 * parseVersion('1:1.2-3-4');     // { epoch: 1, upstream: '1.2-3', revision: '4' }
 * parseVersion('1.0-');          // throws: revision number is empty
 */
export function parseVersion(v: string): DebVersion {
  const loc = locate(v);
  return { epoch: loc.epoch, upstream: v.slice(loc.upStart, loc.upEnd), revision: v.slice(loc.revStart, loc.revEnd) };
}

// --- ordering ----------------------------------------------------------------------------------

/**
 * dpkg's order(): the weight of one non-digit character. `~` sorts before everything, even the end
 * of the string (so 1.0~rc1 << 1.0); the end of the string and digits weigh 0; letters sort before
 * all other characters (hence +256). Callers pass 0 for "past the end".
 */
function order(c: number): number {
  if (isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === TILDE) return -1;
  if (c !== 0) return c + 256;
  return 0;
}

/**
 * dpkg's verrevcmp() on the ranges a[ai, ae) and b[bi, be): alternately compare a run of
 * non-digits by order() and a run of digits numerically. Digit runs are compared as strings after
 * dropping leading zeros (longer run wins, else first differing digit), never as Numbers, so
 * 1.00000000000000000000001 neither overflows nor loses precision.
 */
function verrevcmp(a: string, ai: number, ae: number, b: string, bi: number, be: number): number {
  while (ai < ae || bi < be) {
    let firstDiff = 0;
    for (;;) {
      const ca = ai < ae ? a.charCodeAt(ai) : 0;
      const cb = bi < be ? b.charCodeAt(bi) : 0;
      if (!((ca !== 0 && !isDigit(ca)) || (cb !== 0 && !isDigit(cb)))) break;
      const oa = order(ca);
      const ob = order(cb);
      // Only equal weights advance, and the end (0) never equals a non-digit's weight, so neither
      // index runs past its end.
      if (oa !== ob) return oa - ob;
      ai++;
      bi++;
    }
    while (ai < ae && a.charCodeAt(ai) === ZERO) ai++;
    while (bi < be && b.charCodeAt(bi) === ZERO) bi++;
    for (;;) {
      const ca = ai < ae ? a.charCodeAt(ai) : 0;
      const cb = bi < be ? b.charCodeAt(bi) : 0;
      if (!isDigit(ca) || !isDigit(cb)) break;
      if (firstDiff === 0) firstDiff = ca - cb;
      ai++;
      bi++;
    }
    if (ai < ae && isDigit(a.charCodeAt(ai))) return 1;
    if (bi < be && isDigit(b.charCodeAt(bi))) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}

/**
 * Compares two Debian versions exactly like `dpkg --compare-versions`: epoch numerically, then
 * upstream, then revision (a missing revision equals `0`). Works on index ranges of the two strings
 * and a bounded cache of where their parts lie, so a call allocates nothing once both were seen.
 * Usable directly as an `Array.prototype.sort` comparator.
 *
 * @returns -1, 0 or 1.
 * @throws OtaError `ERR_OTA_INDEX` when either version is invalid.
 * @example
 * compareVersions('1.0~rc1', '1.0');  // -1: a tilde sorts before the end of the string
 * compareVersions('1:1.0', '2.0');    //  1: the epoch wins
 * compareVersions('1.0', '1.0-0');    //  0
 */
export function compareVersions(a: string, b: string): number {
  const x = locate(a);
  const y = locate(b);
  if (x.epoch !== y.epoch) return x.epoch < y.epoch ? -1 : 1;
  let r = verrevcmp(a, x.upStart, x.upEnd, b, y.upStart, y.upEnd);
  if (r === 0) r = verrevcmp(a, x.revStart, x.revEnd, b, y.revStart, y.revEnd);
  return r < 0 ? -1 : r > 0 ? 1 : 0;
}

/**
 * True when `version op ref` holds, as in a dependency `pkg (op ref)` that `version` must meet.
 *
 * @throws OtaError `ERR_OTA_INDEX` when either version is invalid.
 * @example
 * satisfiesRelation('2.36-9', '>=', '2.34');  // true
 * satisfiesRelation('2.34', '<<', '2.34');    // false
 */
export function satisfiesRelation(version: string, op: Relation, ref: string): boolean {
  const c = compareVersions(version, ref);
  switch (op) {
    case '<<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '=':
      return c === 0;
    case '>=':
      return c >= 0;
    case '>>':
      return c > 0;
    default: {
      const never: never = op;
      throw new Error(`satisfiesRelation: unknown relation ${JSON.stringify(never)}, this is a bug`);
    }
  }
}

/**
 * Maps an operator as written in a control file to a {@link Relation}. The obsolete `<` and `>`
 * mean `<=` and `>=` (not strict!), as dpkg and apt still read them in old packages.
 *
 * @throws OtaError `ERR_OTA_INDEX` for anything else.
 * @example
 * normalizeRelation('>=');  // '>='
 * normalizeRelation('<');   // '<='
 * normalizeRelation('==');  // throws
 */
export function normalizeRelation(op: string): Relation {
  switch (op) {
    case '<<':
    case '<=':
    case '=':
    case '>=':
    case '>>':
      return op;
    case '<':
      return '<=';
    case '>':
      return '>=';
    default:
      throw new OtaError('ERR_OTA_INDEX', `unknown version relation ${JSON.stringify(op)}`, {
        hint: 'use one of <<, <=, =, >=, >> (or the obsolete < and >, meaning <= and >=)',
      });
  }
}
