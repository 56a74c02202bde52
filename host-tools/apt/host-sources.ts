import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { fsReason } from '../../common/fs-errors.js';

/**
 * The build machine's own apt sources, read the way apt reads them (sources.list(5)), so an image
 * manifest can say `uri: host` instead of repeating a mirror the machine already knows.
 *
 * What is deliberately NOT carried over from apt, and why:
 * - `trusted=yes` / `Trusted: yes`: dropped. We never lock from an unsigned archive; such a source
 *   is still verified against its Signed-By (or the default keyrings) and fails there if unsigned.
 * - Fingerprints in Signed-By: dropped. apt uses them to pick keys out of the named keyrings; we
 *   keep the keyring files (or the default keyrings when only fingerprints are given), so every
 *   key in those keyrings is accepted. Still signature-checked, just less narrowly.
 * - `arch+=`/`arch-=` and `Architectures-Add`/`-Remove`: ignored, since they modify apt's
 *   APT::Architectures default, which we do not read; `architectures` is then left unset.
 * - `$(ARCH)` in a suite is left as written: it means the *host's* architecture to apt, but the
 *   image may be for another one, so the caller expands it with the image's arch.
 * - apt.conf (Dir::Etc::sourcelist, Dir::Etc::sourceparts) is not consulted: paths are the
 *   standard ones under `etcApt`.
 * - Entries are returned in declaration order and not merged: two one-line entries for the same
 *   uri and suite with different components stay two entries, as they appear to the user.
 *
 * @example
 * const src: HostSource = {
 *   uri: 'http://mirror.example/debian', suite: 'bookworm', components: ['main'],
 *   signedBy: { kind: 'files', paths: ['/usr/share/keyrings/example.gpg'] },
 *   origin: '/etc/apt/sources.list.d/debian.sources:1',
 * };
 */
export interface HostSource {
  /** Without trailing slash. */
  uri: string;
  /** One entry per suite; a flat repository's suite ends with '/' (e.g. './') and has no components. */
  suite: string;
  components: string[];
  /** `default` means apt's trusted.gpg + trusted.gpg.d (see {@link defaultTrustedKeyrings}). */
  signedBy: { kind: 'files'; paths: string[] } | { kind: 'inline'; armored: string } | { kind: 'default' };
  /** From `Architectures:` / `arch=` when given; unset means "whatever the archive has". */
  architectures?: string[];
  /** `file:line` where it was declared, for messages. */
  origin: string;
}

const HINT = 'see sources.list(5); fix or remove the entry, or give the manifest source an explicit uri instead of `host`';

// apt (GetListOfFilesInDir, like run-parts) silently skips names with other characters, and
// only reads `.list` and `.sources`: `.save`, `.distUpgrade`, `.disabled-by-farm`, `~` ... are
// how people and tools park files they want apt to ignore.
const PART_NAME = /^[A-Za-z0-9_.-]+$/;

function isReadablePartName(name: string, extensions: readonly string[]): boolean {
  return !name.startsWith('.') && PART_NAME.test(name) && extensions.some((ext) => name.endsWith(ext));
}

function malformed(message: string, file: string, line: number): OtaError {
  return new OtaError('ERR_OTA_SOURCES', `${message} (${file}:${line})`, { hint: HINT });
}

/**
 * Reads `<etcApt>/sources.list`, then `<etcApt>/sources.list.d/*.list` and `*.sources` in sorted
 * order (apt's order, which is also apt's order of preference), and returns the enabled `deb`
 * entries. Throws `ERR_OTA_SOURCES` naming file and line for a malformed entry, and when there is
 * no source at all.
 *
 * @example
 * const sources = await readHostSources();
 * // [{ uri: 'http://mirror.example/debian', suite: 'bookworm', components: ['main'], ... }]
 */
export async function readHostSources(etcApt = '/etc/apt'): Promise<HostSource[]> {
  const files: { path: string; deb822: boolean }[] = [];
  const main = join(etcApt, 'sources.list');
  if (await isFile(main)) files.push({ path: main, deb822: false });
  const partsDir = join(etcApt, 'sources.list.d');
  for (const name of await listDir(partsDir)) {
    if (!isReadablePartName(name, ['.list', '.sources'])) continue;
    const path = join(partsDir, name);
    if (!(await isFile(path))) continue; // a directory called foo.list, a dangling symlink
    files.push({ path, deb822: name.endsWith('.sources') });
  }

  const sources: HostSource[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = await readFile(f.path, 'utf8');
    } catch (e) {
      throw new OtaError('ERR_OTA_SOURCES', `cannot read apt source file ${f.path}: ${fsReason(e)}`, { cause: e });
    }
    sources.push(...(f.deb822 ? parseDeb822Sources(text, f.path) : parseOneLineSources(text, f.path)));
  }

  if (sources.length === 0) {
    throw new OtaError('ERR_OTA_SOURCES', `no enabled deb sources found in ${etcApt} (uri: host needs the build machine's apt sources)`, {
      details: files.length > 0 ? files.map((f) => `read ${f.path}`) : [`no ${main} and no *.list or *.sources in ${partsDir}`],
      hint: 'configure apt on this machine (e.g. a /etc/apt/sources.list.d/*.sources file), or give the manifest source an explicit uri instead of `host`',
    });
  }
  return sources;
}

/**
 * apt's default keyrings, used for a source without Signed-By: `<etcApt>/trusted.gpg` if present,
 * then `<etcApt>/trusted.gpg.d/*.gpg` and `*.asc` in sorted order. Empty files are skipped: a
 * zero-byte trusted.gpg is a common apt-key leftover and gpgv rejects it as a keyring.
 *
 * @example
 * await defaultTrustedKeyrings('/etc/apt');
 * // ['/etc/apt/trusted.gpg', '/etc/apt/trusted.gpg.d/example-archive.asc']
 */
export async function defaultTrustedKeyrings(etcApt = '/etc/apt'): Promise<string[]> {
  const out: string[] = [];
  const legacy = join(etcApt, 'trusted.gpg');
  if (await isNonEmptyFile(legacy)) out.push(legacy);
  const dir = join(etcApt, 'trusted.gpg.d');
  for (const name of await listDir(dir)) {
    if (!isReadablePartName(name, ['.gpg', '.asc'])) continue;
    const path = join(dir, name);
    if (await isNonEmptyFile(path)) out.push(path);
  }
  return out;
}

/**
 * Parses a deb822 `.sources` file. Each (URI, suite) pair of an enabled stanza whose Types include
 * `deb` becomes one {@link HostSource}, URIs outermost (apt's order); `file` names it in origins
 * and errors.
 *
 * @example
 * parseDeb822Sources('Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n', 'x.sources');
 * // [{ uri: 'http://mirror.example/debian', suite: 'bookworm', components: ['main'],
 * //    signedBy: { kind: 'default' }, origin: 'x.sources:1' }]
 */
export function parseDeb822Sources(text: string, file: string): HostSource[] {
  const out: HostSource[] = [];
  for (const stanza of splitStanzas(text, file)) {
    const enabled = stanza.fields.get('enabled');
    if (enabled && isFalse(listOf(enabled).join(' '))) continue;

    const types = stanza.fields.get('types');
    if (!types) throw malformed('stanza has no Types field', file, stanza.line);
    const typeList = listOf(types);
    if (typeList.length === 0) throw malformed('stanza has an empty Types field', file, types.line);
    for (const t of typeList) {
      if (t !== 'deb' && t !== 'deb-src') throw malformed(`unknown type "${t}" — apt knows deb and deb-src`, file, types.line);
    }
    if (!typeList.includes('deb')) continue; // source-only stanza: nothing to lock from

    const uris = listOf(stanza.fields.get('uris'));
    if (uris.length === 0) throw malformed('stanza has no URIs', file, stanza.fields.get('uris')?.line ?? stanza.line);
    const suites = listOf(stanza.fields.get('suites'));
    if (suites.length === 0) throw malformed('stanza has no Suites', file, stanza.fields.get('suites')?.line ?? stanza.line);
    const components = listOf(stanza.fields.get('components'));
    const archField = stanza.fields.get('architectures');
    const architectures = archField ? listOf(archField) : undefined;
    const sbField = stanza.fields.get('signed-by');
    const signedBy = sbField ? deb822SignedBy(sbField, file) : ({ kind: 'default' } as const);

    for (const uri of uris) {
      checkUri(uri, file, stanza.fields.get('uris')!.line);
      for (const suite of suites) {
        checkComponents(suite, components, file, stanza.fields.get('components')?.line ?? stanza.line);
        out.push(makeSource(uri, suite, components, signedBy, architectures, `${file}:${stanza.line}`));
      }
    }
  }
  return out;
}

/**
 * Parses a one-line-style `.list` file (`deb [ opt=val opt2=v1,v2 ] uri suite comp...`). Keeps
 * `deb` lines, skips `deb-src`, reads the `arch=` and `signed-by=` options and ignores the rest
 * (including `trusted=`); `#` starts a comment anywhere outside brackets.
 *
 * @example
 * parseOneLineSources('deb [arch=amd64] http://mirror.example/debian bookworm main # comment\n', 'sources.list');
 * // [{ uri: 'http://mirror.example/debian', suite: 'bookworm', components: ['main'],
 * //    signedBy: { kind: 'default' }, architectures: ['amd64'], origin: 'sources.list:1' }]
 */
export function parseOneLineSources(text: string, file: string): HostSource[] {
  const out: HostSource[] = [];
  const lines = splitLines(text);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = stripOneLineComment(lines[i]!).trim();
    if (line === '') continue;

    const typeMatch = /^(\S+)\s*/.exec(line)!;
    const type = typeMatch[1]!;
    if (type !== 'deb' && type !== 'deb-src') throw malformed(`unknown type "${type}" — apt knows deb and deb-src`, file, lineNo);
    if (type === 'deb-src') continue;

    let rest = line.slice(typeMatch[0].length);
    const options = new Map<string, string>();
    if (rest.startsWith('[')) {
      const close = rest.indexOf(']');
      if (close < 0) throw malformed('option list "[" is not closed by "]"', file, lineNo);
      for (const opt of rest.slice(1, close).trim().split(/\s+/).filter(Boolean)) {
        const eq = /^([A-Za-z][A-Za-z0-9-]*)([+-]?=)(.*)$/.exec(opt);
        if (!eq) throw malformed(`option "${opt}" is not name=value`, file, lineNo);
        // `arch+=`/`arch-=` modify apt's default architecture list, which we do not know: skip.
        if (eq[2] === '=') options.set(eq[1]!.toLowerCase(), eq[3]!);
      }
      rest = rest.slice(close + 1);
    }

    const words = splitQuotedWords(rest);
    const [uri, suite, ...components] = words;
    if (uri === undefined) throw malformed('entry has no URI', file, lineNo);
    checkUri(uri, file, lineNo);
    if (suite === undefined) throw malformed('entry has no suite', file, lineNo);
    checkComponents(suite, components, file, lineNo);

    const arch = options.get('arch');
    const architectures = arch === undefined ? undefined : arch.split(',').filter(Boolean);
    const sb = options.get('signed-by');
    const signedBy = sb === undefined ? ({ kind: 'default' } as const) : tokensSignedBy(sb.split(/[,\s]+/), file, lineNo);
    out.push(makeSource(uri, suite, components, signedBy, architectures, `${file}:${lineNo}`));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

interface Field {
  /** 1-based line of the `Name:` line. */
  line: number;
  /** The text after the colon on the first line, then each continuation line (leading blanks kept). */
  lines: string[];
}

interface Stanza {
  /** Line of the stanza's first field, used as the origin of its sources. */
  line: number;
  /** Keyed by lower-cased field name: deb822 field names are case-insensitive. */
  fields: Map<string, Field>;
}

function splitLines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r?\n/);
}

function splitStanzas(text: string, file: string): Stanza[] {
  const stanzas: Stanza[] = [];
  let current: Stanza | undefined;
  let field: Field | undefined;
  const lines = splitLines(text);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const lineNo = i + 1;
    // Comment lines may sit anywhere, even inside a multi-line value; they end nothing.
    if (raw.startsWith('#')) continue;
    if (raw.trim() === '') {
      current = undefined;
      field = undefined;
      continue;
    }
    if (raw.startsWith(' ') || raw.startsWith('\t')) {
      if (!field) throw malformed('continuation line without a field before it', file, lineNo);
      field.lines.push(raw);
      continue;
    }
    const m = /^([^\s:]+)\s*:(.*)$/.exec(raw);
    if (!m) throw malformed(`line is neither "Field: value", a continuation nor a comment: "${raw.trim()}"`, file, lineNo);
    if (!current) {
      current = { line: lineNo, fields: new Map() };
      stanzas.push(current);
    }
    const name = m[1]!.toLowerCase();
    if (current.fields.has(name)) throw malformed(`field ${m[1]} given twice in one stanza`, file, lineNo);
    field = { line: lineNo, lines: [m[2]!] };
    current.fields.set(name, field);
  }
  return stanzas;
}

/** A multi-value field: values separated by any whitespace, across lines; ` .` lines are empty. */
function listOf(field: Field | undefined): string[] {
  if (!field) return [];
  return field.lines
    .map((l) => l.trim())
    .filter((l) => l !== '.')
    .join(' ')
    .split(/\s+/)
    .filter(Boolean);
}

// apt's StringToBool: these spell "off"; anything else leaves the stanza enabled, as in apt.
function isFalse(value: string): boolean {
  return ['no', 'false', 'without', 'off', 'disable'].includes(value.trim().toLowerCase());
}

const ARMOR_BEGIN = '-----BEGIN PGP PUBLIC KEY BLOCK-----';
const ARMOR_END = '-----END PGP PUBLIC KEY BLOCK-----';

function deb822SignedBy(field: Field, file: string): HostSource['signedBy'] {
  if (!field.lines.some((l) => l.includes(ARMOR_BEGIN))) return tokensSignedBy(listOf(field), file, field.line);
  // An embedded key: deb822 cannot hold an empty line inside a value, so the armor's blank line
  // is written as " ."; undo that and the one-space indent to get the armor back byte for byte.
  const body = field.lines.map((l) => l.trim()).map((l) => (l === '.' ? '' : l));
  while (body.length > 0 && body[0] === '') body.shift();
  while (body.length > 0 && body[body.length - 1] === '') body.pop();
  if (body[0] !== ARMOR_BEGIN || body[body.length - 1] !== ARMOR_END) {
    throw malformed(`inline Signed-By key must run from "${ARMOR_BEGIN}" to "${ARMOR_END}"`, file, field.line);
  }
  return { kind: 'inline', armored: `${body.join('\n')}\n` };
}

// A fingerprint (v4: 40 hex, v5: 64 hex; we also take shorter key ids), optionally with the
// `!` that makes apt refuse subkeys.
const FINGERPRINT = /^(0x)?[0-9A-Fa-f]{8,}!?$/;

function tokensSignedBy(tokens: string[], file: string, line: number): HostSource['signedBy'] {
  const paths: string[] = [];
  for (const t of tokens.filter(Boolean)) {
    if (t.startsWith('/')) paths.push(t);
    else if (!FINGERPRINT.test(t)) {
      // apt rejects these too; silently treating a relative path as "no keyring" would widen
      // the set of trusted keys to all of them.
      throw malformed(`Signed-By value "${t}" is neither an absolute keyring path nor a key fingerprint`, file, line);
    }
  }
  // Only fingerprints: apt selects them from the default keyrings, so those are what we check with.
  return paths.length > 0 ? { kind: 'files', paths } : { kind: 'default' };
}

function checkUri(uri: string, file: string, line: number): void {
  // apt refuses what it cannot parse as a URI; the usual cause is a forgotten URI
  // (`deb bookworm main`), so say so instead of failing later at fetch time.
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri)) throw malformed(`"${uri}" is not a URI — is the URI missing?`, file, line);
}

function checkComponents(suite: string, components: string[], file: string, line: number): void {
  if (suite.endsWith('/')) {
    if (components.length > 0) throw malformed(`flat suite "${suite}" takes no components`, file, line);
  } else if (components.length === 0) {
    throw malformed(`suite "${suite}" needs at least one component — only a flat suite ending in / has none`, file, line);
  }
}

function makeSource(
  uri: string,
  suite: string,
  components: string[],
  signedBy: HostSource['signedBy'],
  architectures: string[] | undefined,
  origin: string,
): HostSource {
  const stripped = uri.replace(/\/+$/, '');
  const source: HostSource = {
    // `file:/` stays as is rather than becoming the meaningless `file:`.
    uri: stripped.endsWith(':') ? uri : stripped,
    suite,
    components: [...components],
    signedBy,
    origin,
  };
  if (architectures !== undefined) source.architectures = [...architectures];
  return source;
}

/** apt's one-line comment rule: `#` ends the line, except inside `[...]` (cdrom labels, options). */
function stripOneLineComment(line: string): string {
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '[') depth++;
    else if (c === ']' && depth > 0) depth--;
    else if (c === '#' && depth === 0) return line.slice(0, i);
  }
  return line;
}

/**
 * Whitespace-separated words where `"..."` and `[...]` may hold spaces (apt's ParseQuoteWord), as
 * in `cdrom:[Debian GNU/Linux 12]/`. Double quotes are removed, brackets kept.
 */
function splitQuotedWords(s: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | ']' | undefined;
  for (const c of s) {
    if (quote) {
      if (c === quote) quote = undefined;
      if (c !== '"') word += c;
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === '"') quote = '"';
    else {
      if (c === '[') quote = ']';
      word += c;
    }
  }
  if (inWord) words.push(word);
  return words;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    // Plain code-unit order, which for the allowed ASCII names is apt's (std::sort on strings).
    return (await readdir(dir)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw new OtaError('ERR_OTA_SOURCES', `cannot list ${dir}: ${(e as Error).message}`, { cause: e });
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile(); // stat follows symlinks, as apt does
  } catch {
    return false;
  }
}

async function isNonEmptyFile(path: string): Promise<boolean> {
  try {
    const s = await stat(path);
    return s.isFile() && s.size > 0;
  } catch {
    return false;
  }
}
