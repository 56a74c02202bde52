import { isUtf8 } from 'node:buffer';
import { OtaError } from '../common/errors.js';

/**
 * GVariant serialisation in pure TypeScript: the little-endian normal form exactly as GLib 2.74
 * writes it, so OSTree metadata objects can be read and written without a round of FFI calls per
 * field (docs/conventions.md keeps FFI in ffi/; this needs none).
 *
 * The format in one paragraph, because every decision below follows from it: fixed-size values
 * (b y n q i u h x t d, and tuples of only those) are stored raw, aligned to their size; `s o g`
 * are UTF-8 plus a NUL; `v` is the child's bytes, a NUL and the child's type string; `m` is empty
 * for Nothing, else the child (plus one NUL byte when the child is variable-size); arrays of
 * fixed-size elements are plain concatenations, arrays of variable-size elements are followed by
 * a table of each element's end offset; tuples store the end offset of every variable-size member
 * except the last, in reverse order, at the very end. Offsets are all the same width inside one
 * container, the smallest of 1, 2, 4 or 8 bytes that can address the whole container.
 *
 * Value mapping: b→boolean; y n q i u h d→number; x t→bigint; s o g→string; ay→Buffer;
 * v→{@link GVariantValue}; arrays, tuples and dict entries→JS arrays (so a{sv} is an array of
 * `[key, GVariantValue]` pairs, in order; {@link dict} makes a Map); m→the value or `null`.
 * Nested maybes lose one distinction: Just(Nothing) of `mmi` decodes to `null`, like Nothing.
 */

/** GLib's G_VARIANT_MAX_RECURSION_DEPTH: deeper types or variants are refused, bounding our stack too. */
const MAX_DEPTH = 128;

/**
 * A parsed, definite GVariant type with the layout facts the codec needs.
 *
 * @example
 * const t = parseType('a{sv}');
 * t.kind === 'array' && t.element.kind === 'tuple' && t.element.dictEntry; // true
 */
export type GVariantType = BasicType | ArrayType | MaybeType | TupleType | VariantType;

interface TypeBase {
  /** The type string, e.g. `a{sv}`. */
  readonly string: string;
  /** Alignment in bytes (1, 2, 4 or 8). */
  readonly alignment: number;
  /** Serialised size if fixed, else 0. */
  readonly fixedSize: number;
  /** GLib's type depth: 1 for basic types and `v`, 1 + the deepest member for containers. */
  readonly depth: number;
}
/** `b y n q i u h x t d s o g`. @example parseType('u') // { kind: 'basic', code: 'u', alignment: 4, fixedSize: 4, ... } */
export interface BasicType extends TypeBase {
  readonly kind: 'basic';
  readonly code: 'b' | 'y' | 'n' | 'q' | 'i' | 'u' | 'h' | 'x' | 't' | 'd' | 's' | 'o' | 'g';
}
/** `a<T>`. @example (parseType('ay') as ArrayType).element.string // 'y' */
export interface ArrayType extends TypeBase {
  readonly kind: 'array';
  readonly element: GVariantType;
}
/** `m<T>`, never fixed-size. @example parseType('mi').fixedSize // 0 */
export interface MaybeType extends TypeBase {
  readonly kind: 'maybe';
  readonly element: GVariantType;
}
/** `(...)` and `{KV}`. @example (parseType('(sv)') as TupleType).nOffsets // 1: the s, not the last member */
export interface TupleType extends TypeBase {
  readonly kind: 'tuple';
  /** `{KV}` rather than `(...)`: same layout, two members, a basic key. */
  readonly dictEntry: boolean;
  readonly members: readonly GVariantType[];
  /** How many framing offsets the tuple carries: its variable-size members but the last. */
  readonly nOffsets: number;
}
/** `v`, 8-aligned. @example parseType('v').alignment // 8 */
export interface VariantType extends TypeBase {
  readonly kind: 'variant';
}

/**
 * A value of type `v`: the contained value together with its type string.
 *
 * @example
 * encodeVariant('v', new GVariantValue('as', ['a', 'b']));
 * (decodeVariant('v', bytes) as GVariantValue).type; // 'as'
 */
export class GVariantValue<T = unknown> {
  constructor(
    readonly type: string,
    readonly value: T,
  ) {}
}

function fail(message: string, hint?: string): OtaError {
  return new OtaError('ERR_OTA_OSTREE', message, hint === undefined ? {} : { hint });
}

// ---------------------------------------------------------------------------------------------
// Types

const BASIC_LAYOUT: Record<BasicType['code'], [alignment: number, fixedSize: number]> = {
  b: [1, 1], y: [1, 1], n: [2, 2], q: [2, 2], i: [4, 4], u: [4, 4], h: [4, 4],
  x: [8, 8], t: [8, 8], d: [8, 8], s: [1, 0], o: [1, 0], g: [1, 0],
};
const BASIC: Record<string, BasicType> = {};
for (const [code, [alignment, fixedSize]] of Object.entries(BASIC_LAYOUT)) {
  BASIC[code] = { kind: 'basic', code: code as BasicType['code'], string: code, alignment, fixedSize, depth: 1 };
}
const VARIANT: VariantType = { kind: 'variant', string: 'v', alignment: 8, fixedSize: 0, depth: 1 };

function alignUp(n: number, alignment: number): number {
  // Arithmetic, not bit masks: offsets may pass 2^31 and JS bit operators are 32-bit signed.
  const r = n % alignment;
  return r === 0 ? n : n + alignment - r;
}

/** Type strings inside variants and strings come from the data, so messages show at most 100 characters. */
function clip(type: string): string {
  return type.length > 100 ? `${type.slice(0, 100)}…` : type;
}

function typeError(type: string, at: number, why: string): OtaError {
  return fail(`invalid GVariant type '${clip(type)}' at character ${at}: ${why}`, 'see the GVariant type string grammar (g_variant_type_string_is_valid)');
}

function parseAt(s: string, i: number, nesting: number): [GVariantType, number] {
  const c = s[i];
  if (c === undefined) throw typeError(s, i, 'the type string ends inside a type');
  const basic = BASIC[c];
  if (basic) return [basic, i + 1];
  if (c === 'v') return [VARIANT, i + 1];
  // GLib accepts 128 nested containers around a leaf, and not one more.
  if ((c === 'a' || c === 'm' || c === '(' || c === '{') && nesting >= MAX_DEPTH)
    throw typeError(s, i, `containers nested more than ${MAX_DEPTH} deep`);
  if (c === 'a' || c === 'm') {
    const [element, next] = parseAt(s, i + 1, nesting + 1);
    const string = s.slice(i, next);
    const depth = element.depth + 1;
    // Neither is ever fixed-size: an empty array and Nothing are zero bytes, others are not.
    const fixedSize = 0;
    const t: ArrayType | MaybeType = c === 'a'
      ? { kind: 'array', string, element, alignment: element.alignment, fixedSize, depth }
      : { kind: 'maybe', string, element, alignment: element.alignment, fixedSize, depth };
    return [t, next];
  }
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    const members: GVariantType[] = [];
    let j = i + 1;
    while (s[j] !== close) {
      if (s[j] === undefined) throw typeError(s, j, `missing '${close}'`);
      if (c === '{' && members.length === 2) throw typeError(s, j, 'a dict entry has exactly two members');
      const [m, next] = parseAt(s, j, nesting + 1);
      if (c === '{' && members.length === 0 && m.kind !== 'basic')
        throw typeError(s, j, 'a dict entry key must be a basic type (one of bynqiuxthdsog)');
      members.push(m);
      j = next;
    }
    if (c === '{' && members.length !== 2) throw typeError(s, j, 'a dict entry has exactly two members');
    return [tupleType(s.slice(i, j + 1), members, c === '{'), j + 1];
  }
  if (c === 'r' || c === '*' || c === '?')
    throw typeError(s, i, `'${c}' is an indefinite type; a serialised value needs a definite one`);
  throw typeError(s, i, `unexpected '${c}'`);
}

function tupleType(string: string, members: GVariantType[], dictEntry: boolean): TupleType {
  let alignment = 1;
  let depth = 0;
  let nOffsets = 0;
  let pos = 0;
  let fixed = true;
  members.forEach((m, k) => {
    alignment = Math.max(alignment, m.alignment);
    depth = Math.max(depth, m.depth);
    if (m.fixedSize === 0) {
      fixed = false;
      if (k !== members.length - 1) nOffsets++;
    }
    pos = alignUp(pos, m.alignment) + m.fixedSize;
  });
  // A fixed-size tuple is padded to its own alignment so it packs into arrays; the unit tuple
  // `()` is one byte, not zero, so that an array of them has a countable length.
  const fixedSize = members.length === 0 ? 1 : fixed ? alignUp(pos, alignment) : 0;
  return { kind: 'tuple', string, members, dictEntry, alignment, fixedSize, depth: depth + 1, nOffsets };
}

// Variant payloads repeat a handful of type strings (`s`, `as`, `aay` ...); parsing once per
// string keeps decoding a{sv} cheap. Bounded, since type strings in untrusted data are unbounded.
const typeCache = new Map<string, GVariantType>();
const TYPE_CACHE_MAX = 4096;

/**
 * Parses one complete, definite GVariant type string (GLib grammar; `r * ?` are refused since
 * no value has them).
 *
 * @throws OtaError `ERR_OTA_OSTREE` with the offending character for a bad type string.
 * @example
 * parseType('(a{sv}aya(say)sstayay)').kind; // 'tuple'
 * parseType('a{vs}'); // throws: a dict entry key must be a basic type
 */
export function parseType(type: string): GVariantType {
  const cached = typeCache.get(type);
  if (cached) return cached;
  if (typeof type !== 'string') throw fail(`a GVariant type must be a string, not ${describe(type)}`);
  const [t, end] = parseAt(type, 0, 0);
  if (end !== type.length) throw typeError(type, end, 'more than one complete type (wrap several in a tuple)');
  if (typeCache.size < TYPE_CACHE_MAX) typeCache.set(type, t);
  return t;
}

const SIGNATURE_CHARS = /^[ybnqiuxthdvasog(){}]*$/;
const OBJECT_PATH = /^\/(?:[A-Za-z0-9_]+(?:\/[A-Za-z0-9_]+)*)?$/;

/** g_variant_is_signature: zero or more complete types, D-Bus letters only (so no maybes). */
function isSignature(s: string): boolean {
  if (!SIGNATURE_CHARS.test(s)) return false;
  let i = 0;
  try {
    while (i < s.length) i = parseAt(s, i, 0)[1];
  } catch {
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Offset width for a container of `size` bytes, as the reader derives it (gvs_get_offset_size). */
function offsetWidth(size: number): number {
  if (size > 0xffffffff) return 8;
  if (size > 0xffff) return 4;
  if (size > 0xff) return 2;
  return size > 0 ? 1 : 0;
}

function readOffset(buf: Buffer, pos: number, width: number): number {
  switch (width) {
    case 1:
      return buf[pos]!;
    case 2:
      return buf.readUInt16LE(pos);
    case 4:
      return buf.readUInt32LE(pos);
    default:
      return Number(buf.readBigUInt64LE(pos));
  }
}

function malformed(t: GVariantType, start: number, why: string): OtaError {
  return fail(`malformed GVariant: value of type '${clip(t.string)}' at byte ${start}: ${why}`, 'the data is corrupt or not of this type');
}

function readString(t: BasicType, buf: Buffer, start: number, end: number): string {
  // GLib substitutes '' (or '/' for o) for a broken string; a corrupt OSTree object should be
  // reported instead, so every one of these throws.
  if (end <= start || buf[end - 1] !== 0) throw malformed(t, start, 'string is not NUL-terminated');
  // One pass finds embedded NULs and whether the (usually short, usually ASCII) string needs
  // UTF-8 validation at all; this loop is cheaper than indexOf + isUtf8 on a fresh subarray.
  let ascii = true;
  for (let k = start; k < end - 1; k++) {
    const c = buf[k]!;
    if (c === 0) throw malformed(t, start, 'string contains a NUL byte');
    if (c >= 0x80) ascii = false;
  }
  if (!ascii && !isUtf8(buf.subarray(start, end - 1))) throw malformed(t, start, 'string is not valid UTF-8');
  const s = buf.toString(ascii ? 'latin1' : 'utf8', start, end - 1);
  if (t.code === 'o' && !OBJECT_PATH.test(s)) throw malformed(t, start, `'${clip(s)}' is not an object path`);
  if (t.code === 'g' && !isSignature(s)) throw malformed(t, start, `'${clip(s)}' is not a type signature`);
  return s;
}

/**
 * Decodes the value of type `t` stored in buf[start, end). `depth` is GLib's container depth of
 * this value (0 at the top), used only to bound nesting through `v`. Callers guarantee
 * end - start === t.fixedSize for fixed-size types.
 */
function read(t: GVariantType, buf: Buffer, start: number, end: number, depth: number): unknown {
  switch (t.kind) {
    case 'basic':
      switch (t.code) {
        case 'b':
          return buf[start] !== 0; // GLib reads any non-zero byte as true (normal form is 1)
        case 'y':
          return buf[start]!;
        case 'n':
          return buf.readInt16LE(start);
        case 'q':
          return buf.readUInt16LE(start);
        case 'i':
        case 'h':
          return buf.readInt32LE(start);
        case 'u':
          return buf.readUInt32LE(start);
        case 'x':
          return buf.readBigInt64LE(start);
        case 't':
          return buf.readBigUInt64LE(start);
        case 'd':
          return buf.readDoubleLE(start);
        default:
          return readString(t, buf, start, end);
      }

    case 'variant': {
      if (end <= start) throw malformed(t, start, 'a variant cannot be empty');
      let sep = end - 1;
      while (sep >= start && buf[sep] !== 0) sep--;
      if (sep < start) throw malformed(t, start, 'no NUL before the type string');
      const typeString = buf.toString('latin1', sep + 1, end);
      let inner: GVariantType;
      try {
        inner = parseType(typeString);
      } catch (e) {
        throw malformed(t, start, (e as Error).message);
      }
      if (depth + inner.depth >= MAX_DEPTH) throw malformed(t, start, `variants nested deeper than ${MAX_DEPTH} levels`);
      if (inner.fixedSize !== 0 && sep - start !== inner.fixedSize)
        throw malformed(t, start, `'${clip(typeString)}' needs ${inner.fixedSize} bytes, the variant holds ${sep - start}`);
      return new GVariantValue(typeString, read(inner, buf, start, sep, depth + 1));
    }

    case 'maybe': {
      if (end === start) return null;
      const el = t.element;
      if (el.fixedSize !== 0) {
        if (end - start !== el.fixedSize) throw malformed(t, start, `Just needs ${el.fixedSize} bytes, got ${end - start}`);
        return read(el, buf, start, end, depth + 1);
      }
      // The trailing byte of a variable-size Just is always 0 in normal form; GLib ignores it.
      return read(el, buf, start, end - 1, depth + 1);
    }

    case 'array': {
      const el = t.element;
      const size = end - start;
      if (el.fixedSize !== 0) {
        if (size % el.fixedSize !== 0) throw malformed(t, start, `${size} bytes is not a whole number of ${el.fixedSize}-byte elements`);
        // Checksums, signatures and xattrs are all `ay`: one copy instead of one call per byte.
        // A copy, not a view, so callers may keep it without pinning or aliasing the input.
        if (el.string === 'y') {
          const out = Buffer.allocUnsafe(size); // pooled for small sizes, and fully overwritten
          buf.copy(out, 0, start, end);
          return out;
        }
        const n = size / el.fixedSize;
        const out = new Array<unknown>(n);
        for (let k = 0, p = start; k < n; k++, p += el.fixedSize) out[k] = read(el, buf, p, p + el.fixedSize, depth + 1);
        return out;
      }
      if (size === 0) return [];
      const w = offsetWidth(size);
      const tableStart = readOffset(buf, end - w, w); // the last element's end is where the table begins
      if (tableStart > size - w) throw malformed(t, start, `offset table starts at ${tableStart}, beyond the array`);
      const tableSize = size - tableStart;
      if (tableSize % w !== 0) throw malformed(t, start, `offset table of ${tableSize} bytes is not a whole number of ${w}-byte offsets`);
      const n = tableSize / w;
      const out = new Array<unknown>(n);
      let prevEnd = 0;
      for (let k = 0; k < n; k++) {
        const s = alignUp(prevEnd, el.alignment);
        const e = readOffset(buf, start + tableStart + k * w, w);
        if (e < s || e > tableStart) throw malformed(t, start, `element ${k} would span [${s}, ${e}) of a ${tableStart}-byte body`);
        out[k] = read(el, buf, start + s, start + e, depth + 1);
        prevEnd = e;
      }
      return out;
    }

    case 'tuple': {
      const members = t.members;
      const n = members.length;
      const out = new Array<unknown>(n);
      if (n === 0) return out; // the unit tuple's single byte carries nothing
      const size = end - start;
      const w = t.nOffsets === 0 ? 0 : offsetWidth(size);
      const tableStart = size - w * t.nOffsets;
      // (An empty tuple body has offset width 0: GLib then reads every offset as 0.)
      if (tableStart < 0 || (t.nOffsets > 0 && size === 0))
        throw malformed(t, start, `${size} bytes cannot hold ${t.nOffsets} framing offsets`);
      let pos = 0;
      let offsetIndex = 0;
      for (let k = 0; k < n; k++) {
        const m = members[k]!;
        const s = alignUp(pos, m.alignment);
        let e: number;
        if (m.fixedSize !== 0) e = s + m.fixedSize;
        else if (k === n - 1) e = tableStart;
        else e = readOffset(buf, start + size - w * ++offsetIndex, w);
        if (e < s || e > tableStart) throw malformed(t, start, `member ${k} would span [${s}, ${e}) of a ${tableStart}-byte body`);
        out[k] = read(m, buf, start + s, start + e, depth + 1);
        pos = e;
      }
      // Bytes between the last fixed-size member and the offsets are not normal form, but GLib
      // reads past them, and so do we.
      return out;
    }
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes serialised GVariant data of a known type (what `g_variant_new_from_data` +
 * `g_variant_get` do). Accepts GLib's normal form and the harmless non-normal variations GLib
 * reads the same way (non-zero padding, junk before a tuple's offsets, booleans other than 0/1,
 * a non-zero byte after a variable-size Just); refuses anything GLib would have to replace with a
 * default value (offsets out of range, unterminated or non-UTF-8 strings, bad variant types...).
 *
 * @throws OtaError `ERR_OTA_OSTREE` for a bad type string or malformed data; never anything else.
 * @example
 * decodeVariant('(us)', Buffer.from([5, 0, 0, 0, 0x61, 0])); // [5, 'a']
 * decodeVariant('a{sv}', commitMetaBytes); // [['version', GVariantValue { type: 's', value: '1.0' }], ...]
 */
export function decodeVariant(type: string, bytes: Uint8Array): unknown {
  const t = parseType(type);
  const buf = asBuffer(bytes);
  if (t.fixedSize !== 0 && buf.length !== t.fixedSize)
    throw malformed(t, 0, `a '${type}' is ${t.fixedSize} bytes, got ${buf.length}`);
  try {
    return read(t, buf, 0, buf.length, 0);
  } catch (e) {
    if (e instanceof OtaError) throw e;
    // Every read is bounds-checked above; this is the safety net that keeps a missed case a
    // clean OtaError rather than a crash.
    throw new OtaError('ERR_OTA_OSTREE', `malformed GVariant of type '${type}': ${(e as Error).message}`, { cause: e });
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** GLib's gvs_calculate_total_size: the narrowest offset width that addresses body + table. */
function widthFor(bodySize: number, nOffsets: number): number {
  if (bodySize + nOffsets <= 0xff) return 1;
  if (bodySize + 2 * nOffsets <= 0xffff) return 2;
  if (bodySize + 4 * nOffsets <= 0xffffffff) return 4;
  return 8;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (Buffer.isBuffer(v)) return `a Buffer of ${v.length} bytes`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'object') return `a ${v.constructor?.name ?? 'object'}`;
  return `${typeof v} ${String(v)}`;
}

const INT_RANGE: Record<string, [number, number]> = {
  y: [0, 0xff], n: [-0x8000, 0x7fff], q: [0, 0xffff], i: [-0x80000000, 0x7fffffff], h: [-0x80000000, 0x7fffffff], u: [0, 0xffffffff],
};
const INT64_RANGE: Record<string, [bigint, bigint]> = {
  x: [-(1n << 63n), (1n << 63n) - 1n],
  t: [0n, (1n << 64n) - 1n],
};
const LONE_SURROGATE = /\p{Cs}/u;

class EncodeProblem extends Error {}

/**
 * Appends serialised values to one growing buffer. Containers need no second pass: their
 * framing offsets go after their children, and a container starts aligned to its own alignment
 * (the largest of its children's), so aligning absolute positions aligns relative ones too.
 */
class Writer {
  buf = Buffer.alloc(256);
  pos = 0;
  /** Where the value being written sits, for error messages; popped only on success. */
  readonly path: string[] = [];

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    // Buffer.alloc zero-fills, and padding is written by skipping, so padding is always zero.
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  pad(alignment: number): void {
    const target = alignUp(this.pos, alignment);
    this.reserve(target - this.pos);
    this.pos = target;
  }

  byte(v: number): void {
    this.reserve(1);
    this.buf[this.pos++] = v;
  }

  offsets(ends: number[], width: number): void {
    this.reserve(ends.length * width);
    for (const e of ends) {
      if (width === 8) this.buf.writeBigUInt64LE(BigInt(e), this.pos);
      else this.buf.writeUIntLE(e, this.pos, width);
      this.pos += width;
    }
  }

  write(t: GVariantType, v: unknown, depth: number): void {
    switch (t.kind) {
      case 'basic':
        return this.basic(t, v);

      case 'variant': {
        if (typeof v !== 'object' || v === null || typeof (v as GVariantValue).type !== 'string' || !('value' in v))
          throw new EncodeProblem(`expected a GVariantValue {type, value}, got ${describe(v)}`);
        const { type, value } = v as GVariantValue;
        let inner: GVariantType;
        try {
          inner = parseType(type);
        } catch (e) {
          throw new EncodeProblem((e as Error).message);
        }
        if (depth + inner.depth >= MAX_DEPTH) throw new EncodeProblem(`variants nested deeper than ${MAX_DEPTH} levels`);
        this.path.push(`<${type}>`);
        this.write(inner, value, depth + 1);
        this.path.pop();
        this.byte(0);
        this.reserve(type.length);
        this.pos += this.buf.write(type, this.pos, 'latin1');
        return;
      }

      case 'maybe':
        if (v === null || v === undefined) return;
        this.write(t.element, v, depth + 1);
        if (t.element.fixedSize === 0) this.byte(0);
        return;

      case 'array': {
        const el = t.element;
        if (el.string === 'y' && v instanceof Uint8Array) {
          this.reserve(v.length);
          this.buf.set(v, this.pos);
          this.pos += v.length;
          return;
        }
        const items = Array.isArray(v) ? v : el.kind === 'tuple' && el.dictEntry && v instanceof Map ? [...v] : undefined;
        if (!items) throw new EncodeProblem(`expected an array${el.string === 'y' ? ' or a Buffer' : ''}, got ${describe(v)}`);
        if (el.fixedSize !== 0) {
          // Fixed-size elements are multiples of their alignment: no padding, no offsets.
          items.forEach((item, k) => {
            this.path.push(`[${k}]`);
            this.write(el, item, depth + 1);
            this.path.pop();
          });
          return;
        }
        const start = this.pos;
        const ends: number[] = [];
        items.forEach((item, k) => {
          const key: unknown = el.kind === 'tuple' && el.dictEntry && Array.isArray(item) ? item[0] : undefined;
          this.path.push(typeof key === 'string' ? `[${JSON.stringify(key)}]` : `[${k}]`);
          this.pad(el.alignment);
          this.write(el, item, depth + 1);
          ends.push(this.pos - start);
          this.path.pop();
        });
        if (ends.length > 0) this.offsets(ends, widthFor(this.pos - start, ends.length));
        return;
      }

      case 'tuple': {
        const members = t.members;
        if (!Array.isArray(v) || v.length !== members.length)
          throw new EncodeProblem(`expected ${t.dictEntry ? 'a [key, value] pair' : `an array of ${members.length} members`}, got ${describe(v)}`);
        if (members.length === 0) return this.byte(0);
        const start = this.pos;
        const ends: number[] = [];
        members.forEach((m, k) => {
          this.path.push(`[${k}]`);
          this.pad(m.alignment);
          this.write(m, v[k], depth + 1);
          if (m.fixedSize === 0 && k !== members.length - 1) ends.push(this.pos - start);
          this.path.pop();
        });
        if (t.fixedSize !== 0) return this.pad(t.alignment);
        // Framing offsets are stored last member first.
        if (ends.length > 0) this.offsets(ends.reverse(), widthFor(this.pos - start, ends.length));
        return;
      }
    }
  }

  basic(t: BasicType, v: unknown): void {
    const code = t.code;
    switch (code) {
      case 'b':
        if (typeof v !== 'boolean') throw new EncodeProblem(`expected a boolean, got ${describe(v)}`);
        return this.byte(v ? 1 : 0);
      case 'y':
      case 'n':
      case 'q':
      case 'i':
      case 'h':
      case 'u': {
        const [min, max] = INT_RANGE[code]!;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
          throw new EncodeProblem(`expected an integer in ${min}..${max}, got ${describe(v)}`);
        this.reserve(t.fixedSize);
        const b = this.buf; // after reserve(), which may have replaced it
        if (code === 'y') b[this.pos] = v;
        else if (code === 'n') b.writeInt16LE(v, this.pos);
        else if (code === 'q') b.writeUInt16LE(v, this.pos);
        else if (code === 'u') b.writeUInt32LE(v, this.pos);
        else b.writeInt32LE(v, this.pos);
        this.pos += t.fixedSize;
        return;
      }
      case 'x':
      case 't': {
        const [min, max] = INT64_RANGE[code]!;
        // Numbers are accepted for convenience when they are exact; decoding always gives bigint.
        const big = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : undefined;
        if (big === undefined || big < min || big > max)
          throw new EncodeProblem(`expected a bigint (or safe integer) in ${min}..${max}, got ${describe(v)}`);
        this.reserve(8);
        if (code === 'x') this.buf.writeBigInt64LE(big, this.pos);
        else this.buf.writeBigUInt64LE(big, this.pos);
        this.pos += 8;
        return;
      }
      case 'd':
        if (typeof v !== 'number') throw new EncodeProblem(`expected a number, got ${describe(v)}`);
        this.reserve(8);
        this.buf.writeDoubleLE(v, this.pos);
        this.pos += 8;
        return;
      default: {
        if (typeof v !== 'string') throw new EncodeProblem(`expected a string, got ${describe(v)}`);
        if (v.includes('\0')) throw new EncodeProblem('a GVariant string cannot contain NUL');
        // Buffer.from would quietly turn a lone surrogate into U+FFFD; say so instead.
        if (LONE_SURROGATE.test(v)) throw new EncodeProblem(`${describe(v)} has a lone UTF-16 surrogate`);
        if (code === 'o' && !OBJECT_PATH.test(v)) throw new EncodeProblem(`${describe(v)} is not an object path`);
        if (code === 'g' && !isSignature(v)) throw new EncodeProblem(`${describe(v)} is not a type signature`);
        const n = Buffer.byteLength(v, 'utf8');
        this.reserve(n + 1);
        this.buf.write(v, this.pos, 'utf8');
        this.pos += n;
        this.buf[this.pos++] = 0;
        return;
      }
    }
  }
}

/**
 * Serialises a value to GVariant normal form, byte-identical to `g_variant_get_data` of the same
 * value built by GLib. See the module comment for the value mapping; a dict (`a{..}`) may also be
 * given as a Map, `ay` as any Uint8Array, `x`/`t` as a safe-integer number, Nothing as undefined.
 *
 * @throws OtaError `ERR_OTA_OSTREE` naming the path of the first value that does not fit the type.
 * @example
 * encodeVariant('a{sv}', [['version', new GVariantValue('s', '1.0')]]);
 * encodeVariant('(tuuuusa(ayay))', [6n, 0, 0, 0o100644, 0, '', []]);
 */
export function encodeVariant(type: string, value: unknown): Buffer {
  const t = parseType(type);
  const w = new Writer();
  try {
    w.write(t, value, 0);
  } catch (e) {
    if (e instanceof EncodeProblem) {
      const where = w.path.length > 0 ? ` at ${w.path.join('')}` : '';
      throw fail(`cannot encode as GVariant '${type}'${where}: ${e.message}`);
    }
    throw e;
  }
  return w.buf.subarray(0, w.pos);
}

/**
 * Turns decoded `a{sv}` entries into a Map from key to variant. Like `g_variant_lookup_value`,
 * the first entry wins when a key repeats.
 *
 * @throws OtaError `ERR_OTA_OSTREE` if `entries` is not an array of [string, GVariantValue].
 * @example
 * const meta = dict(decodeVariant('a{sv}', bytes));
 * meta.get('version')?.value; // '1.0'
 */
export function dict(entries: unknown): Map<string, GVariantValue> {
  if (!Array.isArray(entries)) throw fail(`expected decoded a{sv} entries, got ${describe(entries)}`);
  const out = new Map<string, GVariantValue>();
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || !(entry[1] instanceof GVariantValue))
      throw fail(`expected a [string, GVariantValue] a{sv} entry, got ${describe(entry)}`);
    if (!out.has(entry[0])) out.set(entry[0], entry[1]);
  }
  return out;
}
