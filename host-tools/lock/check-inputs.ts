import { loadBoard } from '../board/load.js';
import type { Manifest } from '../manifest/schema.js';
import type { Lock } from './lockfile.js';
import { expandSources } from './sources.js';
import { localDebProblems } from './local-debs.js';

export interface InputsOptions {
  manifest: Manifest;
  manifestPath: string;
  env?: NodeJS.ProcessEnv;
  etcApt?: string;
  boardsDir?: string;
  /**
   * For `--check` and a build of a kept lock, which may run where a `${VAR}` is unset (neither
   * fetches an index): take the variable from the lock's own first line of that source, so the
   * source's other lines must at least agree with it.
   */
  inferUnsetVars?: boolean;
}

/**
 * What a lock's header claims about its inputs, against those inputs as `ota lock` reads them
 * now: every Sources line must be one the manifest yields (`host` expanded from the host's apt
 * sources, `${VAR}` from the environment), so a hand-added line cannot point the build at another
 * archive or at a local file; and Board-SHA256 must be the board.yaml's, or `ota lock` would redo
 * the lock (a stale one); and every local deb must still be the file the lock hashed. Needs the manifest, so it runs for --check and for a build whose
 * manifest is known.
 *
 * @example
 * const problems = await inputProblems(lock, { manifest, manifestPath: 'image.yaml' });
 */
export async function inputProblems(lock: Lock, options: InputsOptions): Promise<string[]> {
  const problems: string[] = [];
  const env = options.inferUnsetVars ? withInferredVars(lock, options.manifest, options.env ?? process.env) : options.env;
  // With inferred variables, a source the lock never used stays unset: lockProblems names it.
  const resolvable = options.inferUnsetVars ? options.manifest.sources.filter((s) => [...s.uri.matchAll(VAR)].every((m) => env?.[m[1]!])) : options.manifest.sources;
  const suites = await expandSources({ ...options.manifest, sources: resolvable }, options.manifestPath, { env, etcApt: options.etcApt });
  const key = (spec: string, uri: string, suite: string) => `${spec} ${uri} ${suite}`;
  const yielded = new Map(suites.map((s) => [key(s.specUri, s.uri, s.suite), s]));
  const board = lock.header.board;
  const def = board && options.manifest.board === board.name ? await loadBoard(board.name, options.boardsDir) : undefined;
  if (board && def && def.sha256 !== board.sha256) {
    problems.push(`board ${board.name}'s board.yaml has changed since the lock (Board-SHA256 ${board.sha256.slice(0, 12)}…, now ${def.sha256.slice(0, 12)}…)`);
  }
  for (const s of lock.header.sources) {
    // A source or suite the manifest no longer has is lockProblems' to name.
    const from = options.manifest.sources.find((m) => m.uri === s.spec && (s.spec === 'host' || !m.suites || m.suites.includes(s.suite)));
    if (!from) continue;
    const now = yielded.get(key(s.spec, s.uri, s.suite));
    if (!now) {
      problems.push(`the lock's source ${s.spec} ${s.uri} ${s.suite} is not one the manifest yields`);
      continue;
    }
    if (now.priority !== s.priority) problems.push(`the lock's source ${s.uri} ${s.suite} has priority ${s.priority}, the manifest ${now.priority}`);
    // The board may add components (firmware.components) beyond the source's own.
    const allowed = new Set([...now.components, ...(def?.board.firmware.components ?? [])]);
    for (const c of s.components) if (!allowed.has(c)) problems.push(`the lock's source ${s.uri} ${s.suite} has component ${c}, which neither the manifest nor the board asks for`);
  }
  problems.push(...(await localDebProblems(lock, options.manifestPath, options.manifest.debs)));
  return problems;
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * `--check` fetches nothing and may run where a source's `${VAR}` is unset: the variable then takes
 * the value that makes the template match the lock's first line of that source, so every other
 * line of the source must still be that same expansion (a second URI slipped in is refused).
 */
function withInferredVars(lock: Lock, manifest: Manifest, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const src of manifest.sources) {
    const names = [...src.uri.matchAll(VAR)].map((m) => m[1]!);
    if (names.every((n) => out[n])) continue;
    const line = lock.header.sources.find((s) => s.spec === src.uri);
    if (!line) continue;
    const literal = src.uri.split(/\$\{[A-Za-z_][A-Za-z0-9_]*\}/).map((part) => part.replace(/[.*+?^$()|[\]{}\\]/g, '\\$&'));
    const m = new RegExp(`^${literal.join('(.+?)')}$`).exec(line.uri);
    if (m) names.forEach((n, i) => (out[n] ||= m[i + 1]));
  }
  return out;
}
