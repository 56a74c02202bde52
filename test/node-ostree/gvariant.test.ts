import koffi from 'koffi';
import { describe, expect, it } from 'vitest';
import { OtaError } from '../../common/errors.js';
import { decodeVariant, dict, encodeVariant, GVariantValue, parseType, type GVariantType } from '../../node-ostree/gvariant.js';

// The reference is GLib itself, called through koffi: every expectation below is "what
// libglib-2.0 does", never a byte string written down by hand.
const lib = koffi.load('libglib-2.0.so.0');
const GErrorT = koffi.struct({ domain: 'uint32', code: 'int', message: 'const char *' });
// A GVariantType* is a pointer to a type string, so type arguments are declared as strings.
const g = {
  parse: lib.func('void *g_variant_parse(const char *type, const char *text, const char *limit, void *endptr, _Out_ void **error)'),
  errorFree: lib.func('void g_error_free(void *error)'),
  getData: lib.func('const void *g_variant_get_data(void *value)'),
  getSize: lib.func('size_t g_variant_get_size(void *value)'),
  typeString: lib.func('const char *g_variant_get_type_string(void *value)'),
  refSink: lib.func('void *g_variant_ref_sink(void *value)'),
  unref: lib.func('void g_variant_unref(void *value)'),
  bytesNew: lib.func('void *g_bytes_new(const void *data, size_t size)'),
  bytesUnref: lib.func('void g_bytes_unref(void *bytes)'),
  fromBytes: lib.func('void *g_variant_new_from_bytes(const char *type, void *bytes, bool trusted)'),
  normalForm: lib.func('void *g_variant_get_normal_form(void *value)'),
  typeStringIsValid: lib.func('bool g_variant_type_string_is_valid(const char *type)'),
  isSignature: lib.func('bool g_variant_is_signature(const char *s)'),
  isObjectPath: lib.func('bool g_variant_is_object_path(const char *s)'),
};

function bytesOf(v: unknown): Buffer {
  const size = Number(g.getSize(v));
  if (size === 0) return Buffer.alloc(0);
  return Buffer.from(koffi.decode(g.getData(v), koffi.array('uint8', size)) as Uint8Array);
}

/** GLib's serialisation of `text` (GVariant text format) parsed as `type`. */
function glibSerialise(type: string, text: string): Buffer {
  const err: unknown[] = [null];
  const v = g.parse(type, text, null, null, err);
  if (!v) {
    const message = (koffi.decode(err[0], GErrorT) as { message: string }).message;
    g.errorFree(err[0]);
    throw new Error(`GLib cannot parse '${type}' ${text.slice(0, 200)}: ${message}`);
  }
  try {
    expect(g.typeString(v)).toBe(type);
    return bytesOf(v);
  } finally {
    g.unref(v);
  }
}

/** What GLib makes of untrusted bytes: g_variant_get_normal_form (defaults for broken parts). */
function glibNormalForm(type: string, data: Buffer): Buffer {
  const gbytes = g.bytesNew(data, data.length); // copies, so GLib never holds a pointer into JS memory
  const v = g.refSink(g.fromBytes(type, gbytes, false));
  g.bytesUnref(gbytes);
  const normal = g.normalForm(v);
  try {
    return bytesOf(normal);
  } finally {
    g.unref(normal);
    g.unref(v);
  }
}

// ---------------------------------------------------------------------------------------------
// GVariant text format, to hand values to GLib

function quote(s: string): string {
  let out = "'";
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === "'" || ch === '\\') out += `\\${ch}`;
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}'`;
}

function text(t: GVariantType, v: unknown): string {
  switch (t.kind) {
    case 'basic':
      if (t.code === 's' || t.code === 'o' || t.code === 'g') return quote(v as string);
      if (t.code === 'd' && Object.is(v, -0)) return '-0.0';
      return String(v);
    case 'variant': {
      const gv = v as GVariantValue;
      return `<@${gv.type} ${text(parseType(gv.type), gv.value)}>`;
    }
    case 'maybe':
      return v === null ? 'nothing' : `just ${text(t.element, v)}`;
    case 'array': {
      const items = v instanceof Uint8Array ? [...v] : (v as unknown[]);
      return `[${items.map((x) => text(t.element, x)).join(', ')}]`;
    }
    case 'tuple': {
      const parts = (v as unknown[]).map((x, k) => text(t.members[k]!, x));
      if (t.dictEntry) return `{${parts.join(', ')}}`;
      return parts.length === 1 ? `(${parts[0]},)` : `(${parts.join(', ')})`;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Deterministic random types and values

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
type Rng = () => number;
const int = (r: Rng, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)]!;

const LEAVES = 'bynqiuhxtdsogv';
const KEYS = 'bynqiuhxtdsog';

function randomType(r: Rng, budget: number): string {
  if (budget === 0 || r() < 0.4) return pick(r, [...LEAVES]);
  switch (int(r, 6)) {
    case 0:
    case 1:
      return `a${randomType(r, budget - 1)}`;
    case 2:
      return `m${randomType(r, budget - 1)}`;
    case 3:
      return `(${Array.from({ length: int(r, 4) }, () => randomType(r, budget - 1)).join('')})`;
    case 4:
      return `a{${pick(r, [...KEYS])}${randomType(r, budget - 1)}}`;
    default:
      return `{${pick(r, [...KEYS])}${randomType(r, budget - 1)}}`;
  }
}

const DOUBLES = [0, 1, -1, 0.5, 1 / 3, 1e-300, -2.5e10, Math.PI, 1e21, 123456789.125, -0, 2 ** 53];
const CHARS = [...'abcXYZ09 _-\'"\\\n\té€😀中/'];

function randomBigInt(r: Rng, signed: boolean): bigint {
  const edge = int(r, 6);
  if (edge === 0) return signed ? -(1n << 63n) : 0n;
  if (edge === 1) return signed ? (1n << 63n) - 1n : (1n << 64n) - 1n;
  const u = (BigInt(int(r, 2 ** 32)) << 32n) | BigInt(int(r, 2 ** 32));
  return signed ? BigInt.asIntN(64, u) : u;
}

function randomValue(r: Rng, t: GVariantType, budget = 3): unknown {
  switch (t.kind) {
    case 'basic':
      switch (t.code) {
        case 'b':
          return r() < 0.5;
        case 'y':
          return int(r, 256);
        case 'n':
          return int(r, 65536) - 32768;
        case 'q':
          return int(r, 65536);
        case 'i':
        case 'h':
          return int(r, 2 ** 32) - 2 ** 31;
        case 'u':
          return int(r, 2 ** 32);
        case 'x':
          return randomBigInt(r, true);
        case 't':
          return randomBigInt(r, false);
        case 'd':
          return r() < 0.5 ? pick(r, DOUBLES) : (r() - 0.5) * 10 ** int(r, 12);
        case 's':
          return Array.from({ length: int(r, 9) }, () => pick(r, CHARS)).join('');
        case 'o':
          return `/${Array.from({ length: int(r, 4) }, () => pick(r, ['a', 'org', 'B_9', 'x1'])).join('/')}`;
        case 'g': {
          const types: string[] = [];
          for (let k = int(r, 3); k > 0; k--) {
            const ty = randomType(r, 2);
            if (!ty.includes('m')) types.push(ty); // D-Bus signatures have no maybes
          }
          return types.join('');
        }
      }
      break;
    case 'variant': {
      const ty = randomType(r, Math.min(2, budget));
      return new GVariantValue(ty, randomValue(r, parseType(ty), budget - 1));
    }
    case 'maybe':
      // null encodes Nothing; a null from a nested maybe element also means Nothing here.
      return r() < 0.3 ? null : randomValue(r, t.element, budget);
    case 'array': {
      const n = r() < 0.1 ? int(r, 40) : int(r, 5);
      if (t.element.string === 'y') return Buffer.from(Array.from({ length: n }, () => int(r, 256)));
      return Array.from({ length: n }, () => randomValue(r, t.element, budget));
    }
    case 'tuple':
      return t.members.map((m) => randomValue(r, m, budget));
  }
  throw new Error('unreachable');
}

// ---------------------------------------------------------------------------------------------
// Cases

const V = (type: string, value: unknown) => new GVariantValue(type, value);

const HAND_PICKED: [string, unknown][] = [
  ['b', true], ['b', false], ['y', 0], ['y', 255], ['n', -32768], ['q', 65535], ['i', -2147483648], ['u', 4294967295],
  ['h', 7], ['x', -(1n << 63n)], ['x', (1n << 63n) - 1n], ['t', (1n << 64n) - 1n], ['d', Math.PI], ['d', -0], ['d', 1e300],
  ['s', ''], ['s', 'héllo 😀'], ['o', '/'], ['o', '/org/gtk/x_1'], ['g', ''], ['g', 'a{sv}(ii)h'],
  ['()', []], ['(())', [[]]], ['a()', [[], []]], ['(y)', [1]], ['(yi)', [1, 2]], ['(iy)', [1, 2]], ['a(iy)', [[1, 2], [3, 4]]],
  ['(xy)', [1n, 2]], ['(yx)', [1, 2n]], ['(sy)', ['a', 1]], ['(ys)', [1, 'a']], ['(ss)', ['a', 'b']], ['(sss)', ['', 'b', '']],
  ['(asas)', [['a'], []]], ['(ayay)', [Buffer.from('x'), Buffer.alloc(0)]], ['a(say)', [['a', Buffer.from([1, 2])], ['', Buffer.alloc(0)]]],
  ['(yvy)', [1, V('x', 5n), 2]], ['(ivs)', [1, V('s', 'x'), 'y']], ['(sv)', ['k', V('ay', Buffer.from([0xff]))]],
  ['ay', Buffer.alloc(0)], ['ay', Buffer.from([1, 2, 3])], ['aay', []], ['aay', [Buffer.alloc(0)]], ['aay', [Buffer.alloc(0), Buffer.alloc(0)]],
  ['as', []], ['as', ['']], ['aas', [[], ['a'], []]], ['ai', [1, -1]], ['ax', [1n]], ['ab', [true, false]], ['ad', [0.25, -1]], ['an', [1, -2]],
  ['mi', null], ['mi', 5], ['ms', null], ['ms', ''], ['ms', 'x'], ['mas', []], ['may', Buffer.from([9])], ['mmi', null], ['mmi', 3],
  ['mms', 'a'], ['m()', []], ['m()', null], ['amb', [true, null, false]], ['ams', [null, 'a', '']], ['(mimsmy)', [null, 'a', 3]],
  ['m(iy)', [1, 2]], ['amay', [null, Buffer.alloc(0), Buffer.from([1])]], ['mv', V('i', 1)],
  ['v', V('i', 1)], ['v', V('v', V('s', 'x'))], ['av', [V('y', 1), V('as', ['a', 'b']), V('()', [])]], ['v', V('()', [])],
  ['v', V('ay', Buffer.from([1, 2]))], ['v', V('mi', null)], ['v', V('(yx)', [1, 2n])],
  ['a{sv}', [['a', V('s', 'b')], ['a', V('i', 1)]]], ['a{ys}', [[1, 'x'], [0, '']]], ['a{xd}', [[-5n, 0.5]]], ['{sv}', ['a', V('u', 7)]],
  ['{yy}', [1, 2]], ['a{yy}', [[1, 2], [3, 4]]], ['a{ss}', []], ['a{sa{sv}}', [['x', [['y', V('b', true)]]]]],
  // an OSTree commit, with the timestamp already byte-swapped as OSTree stores it
  ['(a{sv}aya(say)sstayay)', [[['version', V('s', '1.0')]], Buffer.alloc(0), [], 'subject', 'body', 0x25_7d_93_65_00_00_00_00n, Buffer.alloc(32, 1), Buffer.alloc(32, 2)]],
];

/** Containers sized right at the 1-, 2- and 4-byte offset boundaries (255 and 65535 bytes). */
function boundaryCases(): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const base of [250, 65530]) {
    for (let k = base; k <= base + 8; k++) {
      // Long strings rather than long byte arrays here: GLib's text parser takes ~1 µs per list item.
      out.push(['as', ['x'.repeat(k - 1)]]);
      out.push(['as', ['x'.repeat(k - 4), '']]);
      out.push(['(ss)', ['s'.repeat(k - 3), 'x']]);
      out.push(['(say)', ['s'.repeat(k - 2), Buffer.alloc(1, 1)]]);
      out.push(['(sasy)', ['a', ['b'.repeat(k - 8), ''], 4]]);
      out.push(['v', V('s', 'v'.repeat(k - 4))]);
      out.push(['a{sv}', [['k', V('s', 'w'.repeat(k - 16))]]]);
      if (base < 1000) {
        out.push(['aay', [Buffer.alloc(k, 7)]]);
        out.push(['aay', [Buffer.alloc(k - 3, 7), Buffer.alloc(1, 8)]]);
        out.push(['(ayy)', [Buffer.alloc(k - 1, 3), 9]]);
      }
    }
  }
  return out;
}

function largeCases(r: Rng): [string, unknown][] {
  const strings = Array.from({ length: 9000 }, (_, k) => `string-${k}`); // ~100 KB: 4-byte offsets
  return [
    ['as', strings.slice(0, 40)], // 1-byte
    ['as', strings.slice(0, 400)], // 2-byte
    ['as', strings],
    ['a{sv}', strings.slice(0, 5000).map((s, k) => [s, k % 2 ? V('s', s) : V('t', BigInt(k))])],
    ['a(say)', strings.slice(0, 3000).map((s) => [s, Buffer.alloc(32, s.length)])],
    ['av', strings.slice(0, 7000).map((s) => V('s', s))],
    ['(sasy)', ['head', strings, 1]],
    ['mas', strings],
    ['aay', [Buffer.alloc(70000, 1), Buffer.alloc(0), Buffer.alloc(3, 2)]],
    ['v', V('a{sv}', [['big', V('as', strings.slice(0, 6000))]])],
    ['a(sx)', strings.slice(0, 4000).map((s) => [s, randomBigInt(r, true)])],
    ['ai', Array.from({ length: 20000 }, () => int(r, 2 ** 32) - 2 ** 31)],
  ];
}

function randomCases(r: Rng, n: number): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (let k = 0; k < n; k++) {
    const ty = randomType(r, 4);
    out.push([ty, randomValue(r, parseType(ty))]);
  }
  return out;
}

/** Byte equality with a readable failure: where they first differ, not two 70 KB hex dumps. */
function expectSameBytes(ours: Buffer, theirs: Buffer, label: string): void {
  if (ours.equals(theirs)) return;
  let k = 0;
  while (k < ours.length && k < theirs.length && ours[k] === theirs[k]) k++;
  const around = (b: Buffer) => b.subarray(Math.max(0, k - 8), k + 8).toString('hex');
  expect.fail(`${label}: ${ours.length} vs GLib's ${theirs.length} bytes, first difference at ${k}: ${around(ours)} vs ${around(theirs)}`);
}

const rng = mulberry32(0x6f7374);
const cases: [string, unknown][] = [...HAND_PICKED, ...boundaryCases(), ...largeCases(rng), ...randomCases(rng, 400)];

describe('GVariant codec against GLib 2.74', () => {
  it(`encodes ${cases.length} values byte-identically and decodes GLib's bytes back to the value`, () => {
    const types = new Set<string>();
    for (const [type, value] of cases) {
      const theirs = glibSerialise(type, text(parseType(type), value));
      const label = `'${type}' ${text(parseType(type), value).slice(0, 120)}`;
      expectSameBytes(encodeVariant(type, value), theirs, label);
      expect(decodeVariant(type, theirs), label).toEqual(value);
      types.add(type);
    }
    // the random part really is varied: many distinct types, every leaf type among them
    expect(types.size).toBeGreaterThan(250);
    for (const leaf of LEAVES) expect([...types].some((ty) => ty.includes(leaf)), leaf).toBe(true);
  });

  it('uses 1-, 2- and 4-byte framing offsets exactly where GLib switches', () => {
    // One k-byte element plus one offset: the total jumps from 255 (k=254, 1-byte offset) to 257
    // (k=255, 2-byte offset), and from 65535 to 65538 (4-byte offset).
    const total = (k: number) => glibSerialise('aay', `[${text(parseType('ay'), Buffer.alloc(k))}]`).length;
    expect([253, 254, 255, 256].map(total)).toEqual([254, 255, 257, 258]);
    expect([65532, 65533, 65534].map(total)).toEqual([65534, 65535, 65538]);
    for (const k of [254, 255, 65533, 65534]) expect(encodeVariant('aay', [Buffer.alloc(k)]).length).toBe(total(k));
    const wide = encodeVariant('as', Array.from({ length: 9000 }, (_, k) => `string-${k}`));
    expect(wide.length).toBeGreaterThan(65535);
    expect(wide.readUInt32LE(wide.length - 4)).toBe(wide.length - 9000 * 4); // last offset = start of the 4-byte table
  });

  it('agrees with g_variant_get_normal_form on mutated data, or refuses it with an OtaError', () => {
    const r = mulberry32(42);
    let accepted = 0;
    let refused = 0;
    for (const [type, value] of cases) {
      const good = encodeVariant(type, value);
      if (good.length > 4096) continue;
      for (let m = 0; m < 4; m++) {
        const bad = Buffer.from(good);
        let mutant: Buffer;
        if (m === 0 && bad.length > 0) {
          bad[int(r, bad.length)] = int(r, 256);
          mutant = bad;
        } else if (m === 1 && bad.length > 0) {
          const at = int(r, bad.length);
          bad[at] = bad[at]! ^ (1 << int(r, 8));
          mutant = bad;
        } else if (m === 2) mutant = bad.subarray(0, int(r, bad.length + 1));
        else mutant = Buffer.concat([bad, Buffer.from(Array.from({ length: 1 + int(r, 3) }, () => int(r, 256)))]);
        let ours: unknown;
        try {
          ours = decodeVariant(type, mutant);
        } catch (e) {
          expect(e, `'${type}' ${mutant.toString('hex')}`).toBeInstanceOf(OtaError);
          expect((e as OtaError).code).toBe('ERR_OTA_OSTREE');
          refused++;
          continue;
        }
        accepted++;
        const label = `'${type}' mutant ${mutant.toString('hex').slice(0, 200)}`;
        const normal = glibNormalForm(type, mutant);
        // Just(Nothing) of a nested maybe decodes to null like Nothing (the documented mapping),
        // so there only the decoded values can agree, not the re-encoded bytes.
        if (type.includes('mm')) expect(decodeVariant(type, normal), label).toEqual(ours);
        else expectSameBytes(encodeVariant(type, ours), normal, label);
      }
    }
    // both paths are exercised, not just one
    expect(accepted).toBeGreaterThan(200);
    expect(refused).toBeGreaterThan(200);
  });

  it('reads non-normal but sensible data the way GLib does', () => {
    const nonNormal: [string, number[]][] = [
      ['b', [2]], // any non-zero byte is true
      ['(yi)', [1, 0xee, 0xee, 0xee, 2, 0, 0, 0]], // junk in the padding
      ['ms', [0x61, 0, 7]], // a variable-size Just ends in a non-zero byte
      ['(sy)', [0x61, 0, 5, 0xee, 2]], // junk between the last member and the framing offsets
      ['a(is)', [1, 0, 0, 0, 0x61, 0, 0xaa, 0xaa, 2, 0, 0, 0, 0x62, 0, 6, 14]], // junk between elements
      ['v', [1, 0xee, 0, 0x28, 0x79, 0x62, 0x29]], // a '(yb)' variant whose boolean is 0xee
    ];
    for (const [type, bytes] of nonNormal) {
      const data = Buffer.from(bytes);
      const normal = glibNormalForm(type, data);
      expect(normal.equals(data), `${type}: GLib also calls it non-normal`).toBe(false);
      expectSameBytes(encodeVariant(type, decodeVariant(type, data)), normal, type);
    }
    expect(decodeVariant('(sy)', Buffer.from([0x61, 0, 5, 0xee, 2]))).toEqual(['a', 5]);
  });

  it('refuses malformed data with ERR_OTA_OSTREE, naming the type and the byte', () => {
    const malformed: [string, number[] | string, RegExp][] = [
      ['s', [0x61], /not NUL-terminated/],
      ['s', [], /not NUL-terminated/],
      ['s', 'a\0b\0', /contains a NUL/],
      ['s', [0xff, 0], /not valid UTF-8/],
      ['s', [0xed, 0xa0, 0x80, 0], /not valid UTF-8/], // an encoded surrogate
      ['o', 'a\0', /not an object path/],
      ['g', 'mi\0', /not a type signature/],
      ['i', [1, 2, 3], /is 4 bytes, got 3/],
      ['(ii)', [1, 2, 3, 4, 5, 6, 7], /is 8 bytes, got 7/],
      ['as', [0x61, 0, 9], /offset table starts at 9/],
      ['as', [0x61, 0, 3], /offset table starts at 3/], // the table would be empty
      ['as', [0x61, 0, 5, 2], /element 0 would span \[0, 5\)/],
      ['as', [0x61, 0, 0x62, 0, 0x63, 0, 2, 1, 6], /element 1 would span \[2, 1\)/], // offsets going backwards
      ['ai', [1, 2, 3, 4, 5], /not a whole number of 4-byte elements/],
      ['v', [1, 2, 3, 0x69], /no NUL before the type string/],
      ['v', [1, 0, 0, 0, 0], /ends inside a type/],
      ['v', [1, 0, 0, 0, 0x69], /'i' needs 4 bytes, the variant holds 3/],
      ['v', [0, 0x7a], /unexpected 'z'/],
      ['v', [0, 0x69, 0x69], /more than one complete type/],
      ['mi', [1, 2, 3], /Just needs 4 bytes, got 3/],
      ['(sas)', [0x61, 0, 0x62, 0, 2, 9], /member 0 would span \[0, 9\)/],
      ['(sas)', [], /cannot hold 1 framing offsets/],
    ];
    for (const [type, bytes, why] of malformed) {
      const data = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes);
      let err: unknown;
      try {
        decodeVariant(type, data);
      } catch (e) {
        err = e;
      }
      expect(err, `${type} ${data.toString('hex')}`).toBeInstanceOf(OtaError);
      expect((err as OtaError).code).toBe('ERR_OTA_OSTREE');
      expect((err as OtaError).message, `${type} ${data.toString('hex')}`).toMatch(why);
      expect((err as OtaError).message).toContain(`malformed GVariant`);
    }
  });

  it('limits variant nesting exactly where GLib does, without overflowing the stack', () => {
    // <<<...<int32 1>...>>>: each level adds a NUL and the type string 'v' after its child
    const nested = (levels: number): Buffer =>
      Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0x69]), Buffer.from('\0v'.repeat(levels - 1), 'latin1')]);
    for (let levels = 120; levels <= 132; levels++) {
      const data = nested(levels);
      const glibKeepsIt = glibNormalForm('v', data).equals(data);
      let oursKeepsIt = true;
      try {
        decodeVariant('v', data);
      } catch (e) {
        expect(e).toBeInstanceOf(OtaError);
        oursKeepsIt = false;
      }
      expect(oursKeepsIt, `${levels} nested variants`).toBe(glibKeepsIt);
    }
    expect(() => decodeVariant('v', nested(100_000))).toThrow(/nested deeper than 128/);
    let deep: GVariantValue = V('i', 1);
    for (let k = 0; k < 1000; k++) deep = V('v', deep);
    expect(() => encodeVariant('v', deep)).toThrow(/nested deeper than 128/);
  });

  it('never throws anything but an OtaError on random bytes', () => {
    const r = mulberry32(7);
    const types = ['(a{sv}aya(say)sstayay)', '(a(say)a(sayay))', '(uuua(ayay))', 'v', 'av', 'a{sv}', 'mmas', '(sasy)'];
    for (let k = 0; k < 3000; k++) {
      const data = Buffer.from(Array.from({ length: int(r, 64) }, () => (r() < 0.3 ? 0 : int(r, 256))));
      const type = pick(r, types);
      try {
        decodeVariant(type, data);
      } catch (e) {
        if (!(e instanceof OtaError)) throw new Error(`'${type}' ${data.toString('hex')}: ${String(e)}`, { cause: e });
      }
    }
  });
});

describe('GVariant type strings', () => {
  it('accepts exactly the definite types GLib accepts', () => {
    const r = mulberry32(99);
    const candidates = [
      '', 'a', 'ai', 'aai', '(', ')', '()', '(i', 'i)', '(ii)', '{', '{s}', '{sv}', '{vs}', '{ass}', '{sss}', 'a{sv}', 'a{s}',
      'ii', 'z', 'v', 'mv', 'mmmy', 'r', '*', '?', 'a*', '(r)', 'm', 'am', '{()y}', '{?y}', '{yy}', 'a{sv}x', 'h', 'ah',
      `${'a'.repeat(128)}y`, `${'a'.repeat(129)}y`, `${'('.repeat(128)}y${')'.repeat(128)}`, `${'('.repeat(129)}y${')'.repeat(129)}`,
      `${'m'.repeat(128)}y`, `${'m'.repeat(129)}y`, `a{s${'a'.repeat(126)}y}`, `a{s${'a'.repeat(127)}y}`,
      ...Array.from({ length: 600 }, () => Array.from({ length: 1 + int(r, 6) }, () => pick(r, [...'aym(){}svi*?rd'])).join('')),
    ];
    for (const s of candidates) {
      let ours = true;
      try {
        parseType(s);
      } catch (e) {
        expect(e).toBeInstanceOf(OtaError);
        ours = false;
      }
      const theirs = g.typeStringIsValid(s) && !/[*?r]/.test(s);
      expect(ours, JSON.stringify(s)).toBe(theirs);
    }
  });

  it('says what is wrong with a bad type', () => {
    expect(() => parseType('a{vs}')).toThrow(/character 2: a dict entry key must be a basic type/);
    expect(() => parseType('(ii')).toThrow(/missing '\)'/);
    expect(() => parseType('a*')).toThrow(/indefinite/);
    expect(() => parseType('ii')).toThrow(/more than one complete type/);
    expect(() => encodeVariant('r', [])).toThrow(OtaError);
    expect(() => decodeVariant('', Buffer.alloc(0))).toThrow(/ends inside a type/);
  });

  it('validates signatures and object paths like GLib', () => {
    const r = mulberry32(5);
    const signatures = ['', 'a{sv}', 'mi', 'ii', '(', 'h', 'v', '{sv}', 'a{vs}', 'ay(', 'r', '*', '(yv)as',
      ...Array.from({ length: 300 }, () => Array.from({ length: int(r, 6) }, () => pick(r, [...'aym(){}svi*h'])).join(''))];
    for (const s of signatures) {
      let ours = true;
      try {
        encodeVariant('g', s);
      } catch {
        ours = false;
      }
      expect(ours, JSON.stringify(s)).toBe(g.isSignature(s));
    }
    for (const p of ['/', '', '//', '/a', '/a/', '/a//b', '/a_b/C9', 'a', '/a-b', '/é', '/a/b/c']) {
      let ours = true;
      try {
        encodeVariant('o', p);
      } catch {
        ours = false;
      }
      expect(ours, JSON.stringify(p)).toBe(g.isObjectPath(p));
    }
  });
});

describe('encodeVariant input checks', () => {
  it('refuses values that do not fit the type, saying where', () => {
    const bad: [string, unknown, RegExp][] = [
      ['i', 1.5, /expected an integer in -2147483648\.\.2147483647, got number 1\.5/],
      ['y', 256, /expected an integer in 0\.\.255/],
      ['b', 1, /expected a boolean/],
      ['s', 'a\0b', /cannot contain NUL/],
      ['s', '\ud800', /lone UTF-16 surrogate/],
      ['(ii)', [1], /expected an array of 2 members, got an array of 1/],
      ['a{sv}', [['k', 'plain']], /at \["k"\]\[1\]: expected a GVariantValue/],
      ['a(si)', [['a', 1], ['b', 'x']], /at \[1\]\[1\]: expected an integer/],
      ['v', { type: 'a', value: 1 }, /ends inside a type/],
      ['v', V('as', [1]), /at <as>\[0\]: expected a string/],
      ['x', 2 ** 60, /expected a bigint \(or safe integer\)/],
      ['t', -1n, /in 0\.\.18446744073709551615/],
      ['o', 'a', /not an object path/],
      ['g', 'mi', /not a type signature/],
      ['as', 'x', /expected an array, got the string "x"/],
      ['ay', 'x', /expected an array or a Buffer/],
      ['d', 1n, /expected a number, got 1n/],
    ];
    for (const [type, value, why] of bad) {
      let err: unknown;
      try {
        encodeVariant(type, value);
      } catch (e) {
        err = e;
      }
      expect(err, type).toBeInstanceOf(OtaError);
      expect((err as OtaError).code).toBe('ERR_OTA_OSTREE');
      expect((err as OtaError).message, type).toMatch(why);
    }
  });

  it('takes conveniences: a Map for a dict, any Uint8Array for ay, exact numbers for x and t, undefined for Nothing', () => {
    const map = new Map([['a', V('s', 'b')]]);
    expect(encodeVariant('a{sv}', map)).toEqual(encodeVariant('a{sv}', [['a', V('s', 'b')]]));
    expect(encodeVariant('ay', new Uint8Array([1, 2]))).toEqual(Buffer.from([1, 2]));
    expect(encodeVariant('(xt)', [-5, 5])).toEqual(encodeVariant('(xt)', [-5n, 5n]));
    expect(encodeVariant('ms', undefined)).toEqual(Buffer.alloc(0));
    expect(encodeVariant('v', { type: 's', value: 'x' })).toEqual(encodeVariant('v', V('s', 'x')));
  });

  it('decodes from any Uint8Array view and returns ay as a copy', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 0x61, 0, 2]);
    const view = backing.subarray(2); // (ays) with ay = [1, 2], s = 'a'
    const [ay, s] = decodeVariant('(ays)', view) as [Buffer, string];
    expect([ay, s]).toEqual([Buffer.from([1, 2]), 'a']);
    backing[2] = 7;
    expect(ay[0]).toBe(1);
  });
});

describe('dict', () => {
  it('maps a{sv} entries, keeping the first of repeated keys like g_variant_lookup_value', () => {
    const m = dict(decodeVariant('a{sv}', encodeVariant('a{sv}', [['a', V('i', 1)], ['b', V('s', 'x')], ['a', V('i', 2)]])));
    expect([...m.keys()]).toEqual(['a', 'b']);
    expect(m.get('a')).toEqual(V('i', 1));
  });

  it('refuses anything but decoded a{sv}', () => {
    expect(() => dict('x')).toThrow(OtaError);
    expect(() => dict([['a', 1]])).toThrow(/\[string, GVariantValue\]/);
    expect(() => dict(decodeVariant('a{ss}', encodeVariant('a{ss}', [['a', 'b']])))).toThrow(OtaError);
  });
});
