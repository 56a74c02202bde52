import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { writeFileAtomicSync } from '../../common/atomic-write.js';
import { privateDir, runtimeDir } from '../../common/runtime-dir.js';

/**
 * A CommonJS script of the one-file agent run with V8's code cache
 * (docs/agent.md, "Shipping the agent"): the CLI is an asset the executable compiles at each start, about 100 ms of CPU of a
 * worker's start on x86_64. The first run writes what V8 compiled, by the time the process exits,
 * into the agent's private runtime folder (where koffi's module goes); later runs hand it back to
 * V8, which checks it against the source, its version and flags and ignores it on any mismatch.
 * The file's name holds a hash of the source, Node's version and the process's Node flags, so
 * processes started with other flags keep their own; the build hashes the source once, so a start
 * does not hash megabytes of it again (V8 itself checks only the source's length). A cache that
 * cannot be read or written costs time, nothing else: it is skipped without a word.
 *
 * @example
 * const fn = runWithCodeCache({ source, filename: 'cli.cjs', params: ['exports', 'require'] }).value as (e: object, r: NodeRequire) => void;
 */
export interface CachedScript {
  source: string;
  filename: string;
  /** The parameters of the function the script's body becomes (a CommonJS module's five). */
  params: readonly string[];
  /** The source's SHA-256 in hex, as the build computed it; hashed here when absent. */
  sourceSha256?: string;
  /** Where the cache lives; default the agent's runtime folder, refused unless private; null: no cache. */
  dir?: string | null;
}

export interface CachedRun {
  /** What the script evaluated to: the function. */
  value: unknown;
  /** hit: V8 took the file; miss: none yet, written at exit; rejected: V8 refused it, written again at exit; off: no private folder. */
  cache: 'hit' | 'miss' | 'rejected' | 'off';
}

export function runWithCodeCache(s: CachedScript): CachedRun {
  const dir = s.dir === undefined ? cacheDir() : s.dir;
  const file = dir === null ? null : join(dir, `${s.filename}-${cacheKey(s.sourceSha256 ?? sha256Hex(s.source))}.v8cache`);
  const cached = file === null ? undefined : readOrUndefined(file);
  // On one line with the body's first: the body's lines keep their numbers in stack traces.
  const script = new Script(`(function (${s.params.join(', ')}) {${s.source}\n})`, { filename: s.filename, cachedData: cached });
  const cache = file === null ? 'off' : cached === undefined ? 'miss' : script.cachedDataRejected === true ? 'rejected' : 'hit';
  if (file !== null && cache !== 'hit') {
    process.once('exit', () => {
      try {
        writeFileAtomicSync(file, script.createCachedData(), 0o400);
      } catch {
        // A cache is only a shortcut.
      }
    });
  }
  return { value: script.runInThisContext(), cache };
}

/** Source (by its hash), Node version and flags: what V8 checks, so a new executable or other flags never meet an old file. */
export function cacheKey(sourceSha256: string): string {
  return createHash('sha256').update(`${process.version}\0${process.execArgv.join('\0')}\0${sourceSha256}`).digest('hex').slice(0, 32);
}

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

function cacheDir(): string | null {
  try {
    return privateDir(runtimeDir());
  } catch {
    return null;
  }
}

function readOrUndefined(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}
