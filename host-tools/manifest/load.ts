import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { parseDocument, isMap, isSeq, type Node as YamlNode, LineCounter } from 'yaml';
import type { z } from 'zod';
import { OtaError } from '../../common/errors.js';
import { manifestSchema, type Manifest } from './schema.js';

/**
 * Reads and checks an image manifest. Errors name the file, the key path and the line:
 * `unknown key "pakages" at sources[0] (image.yaml:4)`.
 *
 * @example
 * const { manifest, sha256 } = await loadManifest('examples/minimal/image.yaml');
 */
export interface LoadedManifest {
  manifest: Manifest;
  path: string;
  /** SHA256 of the manifest's bytes: the lockfile records it. */
  sha256: string;
  text: string;
}

export async function loadManifest(path: string): Promise<LoadedManifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new OtaError('ERR_OTA_MANIFEST', `cannot read manifest ${path}: ${(e as Error).message}`, { cause: e });
  }
  return { manifest: parseManifest(text, path), path, sha256: createHash('sha256').update(text).digest('hex'), text };
}

/** Parses manifest text; `where` names it in errors. */
export function parseManifest(text: string, where: string): Manifest {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new OtaError('ERR_OTA_MANIFEST', `${where}${pos ? `:${pos.line}` : ''} is not valid YAML: ${e.message.split('\n')[0]}`);
  }
  const input: unknown = doc.toJS();
  const result = manifestSchema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const lines = issues.map((issue) => describeIssue(issue, input, doc.contents, lineCounter, where));
  throw new OtaError('ERR_OTA_MANIFEST', `${lines[0]}`, {
    details: lines.slice(1),
    hint: 'see the manifest reference in README.md ("Image manifest")',
  });
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown, root: unknown, lc: LineCounter, where: string): string {
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  let what: string;
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys;
    const at = path || 'the top level';
    const line = lineOf(root, [...issue.path, keys[0]!], lc, true);
    return `unknown key ${keys.map((k) => `"${k}"`).join(', ')} at ${at} (${where}${line ? `:${line}` : ''})${suggestKey(issue.path, keys[0]!)}`;
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

const KNOWN_KEYS: Record<string, string[]> = {
  top: ['name', 'arch', 'board', 'sources', 'variant', 'packages', 'exclude', 'recommends'],
  source: ['uri', 'suites', 'components', 'keyring', 'priority'],
};

function suggestKey(path: PropertyKey[], key: string): string {
  const known = path.length === 0 ? KNOWN_KEYS.top! : path[0] === 'sources' ? KNOWN_KEYS.source! : [];
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
