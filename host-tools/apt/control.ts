/**
 * Debian control-file (deb822) stanzas: Packages, Release and our lockfile share this format.
 * Parsing keeps field order and the original case of names; lookups are by exact name, which is
 * how the archive writes them. Multi-line values keep their continuation lines verbatim.
 *
 * @example
 * const [stanza] = parseStanzas('Package: hello\nVersion: 2.10-3\n');
 * stanza.get('Version'); // '2.10-3'
 */
export type Stanza = Map<string, string>;

/**
 * Parses every stanza in `text`. `#` comment lines are skipped (deb822 allows them in our files).
 * With `strict`, a field written twice in a stanza is an error instead of the last one winning
 * (a lockfile: two values where one is checked and the other used would hide an edit).
 */
export function parseStanzas(text: string, options: { strict?: boolean } = {}): Stanza[] {
  const stanzas: Stanza[] = [];
  let current: Stanza | undefined;
  let lastKey: string | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') {
      current = undefined;
      lastKey = undefined;
      continue;
    }
    if (line.startsWith('#')) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (!current || lastKey === undefined) throw new ControlSyntaxError(i + 1, 'continuation line without a field');
      const prev = current.get(lastKey)!;
      current.set(lastKey, prev === '' ? line.slice(1) : `${prev}\n${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ControlSyntaxError(i + 1, `expected "Field: value", got "${line.slice(0, 60)}"`);
    if (!current) {
      current = new Map();
      stanzas.push(current);
    }
    lastKey = line.slice(0, colon);
    if (options.strict && current.has(lastKey)) throw new ControlSyntaxError(i + 1, `field ${lastKey} appears twice in one stanza`);
    current.set(lastKey, line.slice(colon + 1).trim());
  }
  return stanzas;
}

/** A syntax error with its 1-based line; callers turn it into an OtaError naming the file. */
export class ControlSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

/**
 * Serializes stanzas; a value with newlines becomes continuation lines (an empty line is " .").
 * Values are written as given: same stanzas, same bytes.
 */
export function formatStanzas(stanzas: Iterable<Iterable<[string, string]>>): string {
  const out: string[] = [];
  for (const stanza of stanzas) {
    const lines: string[] = [];
    for (const [key, value] of stanza) {
      const [first, ...rest] = value.split('\n');
      lines.push(first === '' && rest.length > 0 ? `${key}:` : `${key}: ${first}`);
      for (const r of rest) lines.push(r === '' ? ' .' : ` ${r}`);
    }
    out.push(lines.join('\n'));
  }
  return out.length === 0 ? '' : `${out.join('\n\n')}\n`;
}
