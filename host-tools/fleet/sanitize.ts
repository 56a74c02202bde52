/**
 * Text from devices made safe for a terminal (docs/fleet.md, "What is trusted, and what is not"). A device's
 * documents are untrusted: a string could carry ESC sequences that move the cursor, retitle the
 * window or hide text, C1 controls that some terminals read as ESC, or bidirectional overrides
 * that make a table read differently from what it holds. All of them are removed before a string
 * reaches a table or a JSON document; a cut-short sequence is removed to the end of the string.
 *
 * @example
 * cleanText('ok\x1b[2J\x1b]0;pwned\x07!');   // 'ok!'
 * cleanText('a\u202eb', { maxChars: 10 });    // 'ab'
 */

// ESC followed by a CSI (ESC [ ... final byte), an OSC/DCS/SOS/PM/APC string (ended by BEL or ESC \),
// or any other single character; then the 8-bit CSI (U+009B) and string introducers.
const ESCAPES = new RegExp(
  [
    '\\u001b\\[[\\u0030-\\u003f]*[\\u0020-\\u002f]*[\\u0040-\\u007e]?',
    '\\u001b[\\]PX^_][^\\u0007\\u001b\\u009c]*(?:\\u0007|\\u001b\\\\|\\u009c)?',
    '\\u001b[\\u0020-\\u002f]*[\\u0030-\\u007e]?',
    '\\u009b[\\u0030-\\u003f]*[\\u0020-\\u002f]*[\\u0040-\\u007e]?',
    '[\\u009d\\u0090\\u0098\\u009e\\u009f][^\\u0007\\u001b\\u009c]*(?:\\u0007|\\u001b\\\\|\\u009c)?',
  ].join('|'),
  'g',
);
// What is left: C0 controls (tab and newline too: a table cell is one line), DEL, C1 controls, and
// the bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E-F, U+202A-E, U+2066-9).
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export interface CleanOptions {
  /** Cut to this many characters, ending with "…" (a table cell); default: no cut. */
  maxChars?: number;
}

export function cleanText(text: string, options: CleanOptions = {}): string {
  const clean = text.replace(ESCAPES, '').replace(CONTROLS, '');
  const max = options.maxChars;
  if (max === undefined || clean.length <= max) return clean;
  return `${clean.slice(0, Math.max(0, max - 1))}…`;
}

/**
 * A copy of a parsed JSON value with every string (keys too) cleaned: for documents printed with
 * `--json`, where a reader's `jq -r` would otherwise pass a device's escape sequences on.
 *
 * @example
 * cleanValue({ message: 'x\x1b[31m' }); // { message: 'x' }
 */
export function cleanValue<T>(value: T): T {
  if (typeof value === 'string') return cleanText(value) as T;
  if (Array.isArray(value)) return value.map((v) => cleanValue(v) as unknown) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [cleanText(k), cleanValue(v as unknown)])) as T;
  }
  return value;
}
