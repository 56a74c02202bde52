import { parseDocument, isMap, isSeq, type Node as YamlNode, LineCounter } from 'yaml';
import type { z } from 'zod';
import { OtaError, type OtaErrorCode } from './errors.js';

/**
 * YAML checked against a strict zod schema, for every configuration file a person writes
 * (image manifests, board definitions): errors name the file, the key path and the line, and
 * suggest the key that was probably meant: `unknown key "pakages" at the top level
 * (image.yaml:4); did you mean "packages"?`.
 *
 * @example
 * const board = parseStrictYaml(text, 'boards/rpi4/board.yaml', boardSchema, { code: 'ERR_OTA_BOARD', hint: 'see docs/boards.md' });
 */
export interface StrictYamlOptions {
  code: OtaErrorCode;
  hint: string;
  /** The keys allowed at an object path, for "did you mean" suggestions (default: read from the schema). */
  knownKeys?: (path: PropertyKey[]) => string[];
}

export function parseStrictYaml<S extends z.ZodType>(text: string, where: string, schema: S, options: StrictYamlOptions): z.infer<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    // yaml's message ends with its own " at line L, column C:" before a code excerpt: say it once, up front.
    const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new OtaError(options.code, `${where}${pos ? `:${pos.line} is not valid YAML (line ${pos.line}, column ${pos.col})` : ' is not valid YAML'}: ${what}`);
  }
  let input: unknown;
  try {
    // An alias expanded again and again ("billion laughs") makes toJS throw past yaml's alias
    // budget: that is a file to refuse, not a crash.
    input = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new OtaError(options.code, `${where} is not usable YAML: ${(e as Error).message}`, {
      hint: 'write the values out instead of repeating aliases (*name); this file needs none',
    });
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data as z.infer<S>;
  // A misspelt key also shows up as a missing one: name the unknown key first, it explains both.
  const issues = [...result.error.issues].sort((a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'));
  const lines = issues.map((issue) => describeIssue(issue, input, doc.contents, lineCounter, where, options.knownKeys ?? ((path) => keysAt(schema, path))));
  throw new OtaError(options.code, `${lines[0]}`, { details: lines.slice(1), hint: options.hint });
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown, root: unknown, lc: LineCounter, where: string, knownKeys: (path: PropertyKey[]) => string[]): string {
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  let what: string;
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys;
    const at = path || 'the top level';
    const line = lineOf(root, [...issue.path, keys[0]!], lc, true);
    return `unknown key ${keys.map((k) => `"${k}"`).join(', ')} at ${at} (${where}${line ? `:${line}` : ''})${suggestKey(knownKeys(issue.path), keys[0]!)}`;
  }
  if (issue.path.length > 0 && valueAt(input, issue.path) === undefined) what = `missing required key "${path}"`;
  else what = `"${path}": ${issue.message}`;
  const line = lineOf(root, issue.path, lc, false);
  return `${what} (${where}${line ? `:${line}` : ''})`;
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let cur = input;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function suggestKey(known: string[], key: string): string {
  const close = known.filter((k) => editDistance(k, key) <= 2);
  return close.length > 0 ? `; did you mean "${close[0]}"?` : '';
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function lineOf(root: unknown, path: PropertyKey[], lc: LineCounter, keyItself: boolean): number | undefined {
  let node = root as YamlNode | null | undefined;
  let found: { range?: [number, number, number] | null } | undefined = node ?? undefined;
  for (let i = 0; i < path.length; i++) {
    const p = path[i]!;
    if (isMap(node)) {
      const pair = node.items.find((it) => (it.key as { value?: unknown } | null)?.value === p);
      if (!pair) break;
      const isLast = i === path.length - 1;
      found = (isLast && keyItself ? pair.key : (pair.value ?? pair.key)) as typeof found;
      node = pair.value as YamlNode;
    } else if (isSeq(node) && typeof p === 'number') {
      node = node.items[p] as YamlNode;
      found = node as typeof found;
    } else break;
  }
  const offset = found?.range?.[0];
  return offset === undefined ? undefined : lc.linePos(offset).line;
}

interface SchemaDef {
  type: string;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
}

/** The keys of the object schema at `path` (through optional, default, array and union). */
export function keysAt(schema: z.ZodType, path: PropertyKey[]): string[] {
  const unwrap = (s: z.ZodType): z.ZodType[] => {
    const def = (s as unknown as { def: SchemaDef }).def;
    if (def.innerType) return unwrap(def.innerType);
    if (def.options) return def.options.flatMap(unwrap);
    return [s];
  };
  let current = unwrap(schema);
  for (const p of path) {
    const next: z.ZodType[] = [];
    for (const s of current) {
      const def = (s as unknown as { def: SchemaDef }).def;
      if (def.type === 'array' && typeof p === 'number' && def.element) next.push(...unwrap(def.element));
      const shape = (s as unknown as { shape?: Record<string, z.ZodType> }).shape;
      if (def.type === 'object' && shape && typeof p === 'string' && shape[p]) next.push(...unwrap(shape[p]));
    }
    current = next;
  }
  return [...new Set(current.flatMap((s) => Object.keys((s as unknown as { shape?: Record<string, unknown> }).shape ?? {})))];
}
