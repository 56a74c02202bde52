import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { decompress, type Compression } from './decompress.js';
import { PackagesIndex, type IndexData } from './packages-index.js';

/**
 * Where verified archive metadata is kept between runs: Packages texts and their indexes keyed by
 * the SHA256 that a verified InRelease listed, and checked against it on every read (so a cached
 * file is trusted exactly as much as a fresh download), and the last verified InRelease of each
 * suite, which lets `--offline` work.
 * `$OTA_CACHE_DIR`, else `$XDG_CACHE_HOME/ota`, else `~/.cache/ota`.
 *
 * @example
 * const cache = new IndexCache(defaultCacheDir());
 * const got = await cache.getPackages(sha256); // { kind: 'hit', index } | { kind: 'miss' } | { kind: 'damaged', ... }
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OTA_CACHE_DIR) return env.OTA_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'ota');
  return join(homedir(), '.cache', 'ota');
}

export type CachedPackages =
  | { kind: 'hit'; index: PackagesIndex }
  | { kind: 'miss' }
  /** The file at `path` no longer has the hash it was stored under (`sha256` is what it has now); it was removed. */
  | { kind: 'damaged'; path: string; sha256: string };

function parseKey(key: string): { ext: Compression; sha256: string } {
  const m = /^(?:(xz|gz)-)?([0-9a-f]{64})$/.exec(key);
  if (!m) throw new Error(`index cache key ${key} is not [xz-|gz-]<sha256>, this is a bug`);
  return { ext: (m[1] ?? '') as Compression, sha256: m[2]! };
}

/**
 * Whether every name in a cached name index points at stanzas of that package in the verified
 * text, so that an edited `.idx.json` cannot make one package's stanza answer for another.
 * (Debian's indices start each stanza with its Package field: the check is a prefix test.)
 */
function namesMatch(text: string, data: unknown): data is IndexData {
  if (!shapeOk(data)) return false;
  for (const [name, offsets] of Object.entries(data.stanzas)) {
    if (!Array.isArray(offsets)) return false;
    for (const off of offsets) {
      if (!Number.isInteger(off) || off < 0 || off >= text.length) return false;
      if (!text.startsWith(`Package: ${name}\n`, off) && !stanzaNames(text, off, name)) return false;
    }
  }
  return true;
}

/**
 * Whether a parsed `.idx.json` has the types the index reads: anything else (an edited or
 * half-written file) would fail deep inside the resolver as an internal error.
 */
function shapeOk(data: unknown): data is IndexData {
  if (!isRecord(data) || data.version !== 1 || !isRecord(data.stanzas) || !isRecord(data.provides)) return false;
  if (!isStrings(data.essential) || !isStrings(data.required)) return false;
  const stanzas = data.stanzas;
  if (!Object.values(data.provides).every((p) => isStrings(p) && p.every((n) => Object.hasOwn(stanzas, n)))) return false;
  return Object.values(stanzas).every((o) => Array.isArray(o) && o.length > 0);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** The slow path for an index whose stanzas do not begin with Package: that stanza's own field. */
function stanzaNames(text: string, off: number, name: string): boolean {
  const end = text.indexOf('\n\n', off);
  const stanza = text.slice(off, end === -1 ? text.length : end);
  return new RegExp(`^Package:[ \t]*${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[ \t]*$`, 'm').test(stanza);
}

export class IndexCache {
  constructor(readonly dir: string) {}

  private packagesPath(key: string): string {
    return join(this.dir, 'indices', key);
  }

  private releasePath(uri: string, suite: string): string {
    const id = createHash('sha256').update(`${uri} ${suite}`).digest('hex').slice(0, 32);
    return join(this.dir, 'releases', id, 'InRelease');
  }

  /**
   * A cached Packages index, checked against the key it was stored under whenever it is read:
   * `<sha256>` is the hash of the text, `<xz|gz>-<sha256>` that of the compressed file kept as it
   * came. A file that no longer has its hash is removed and reported as `damaged`, so the caller
   * fetches it again (or, offline, refuses). The text is written before its index, so an index
   * implies its text.
   */
  async getPackages(key: string): Promise<CachedPackages> {
    let data: unknown;
    try {
      data = JSON.parse(await readFile(`${this.packagesPath(key)}.idx.json`, 'utf8'));
    } catch {
      // No name index: a miss (the text is written first, so without one there is nothing to trust).
      // A name index that is not JSON is rebuilt from the verified text below, like a wrong one.
      if (!existsSync(`${this.packagesPath(key)}.idx.json`)) return { kind: 'miss' };
    }
    const path = this.packagesPath(key);
    let stored: Buffer;
    try {
      stored = await readFile(path);
    } catch {
      await this.dropPackages(key);
      return { kind: 'miss' };
    }
    const { ext, sha256 } = parseKey(key);
    const got = createHash('sha256').update(stored).digest('hex');
    if (got !== sha256) {
      await this.dropPackages(key);
      return { kind: 'damaged', path, sha256: got };
    }
    const text = (ext === '' ? stored : await decompress(stored, ext, path)).toString('utf8');
    if (namesMatch(text, data)) return { kind: 'hit', index: PackagesIndex.fromCache(text, data) };
    // The name index is derived data, cheap to check and cheap to rebuild from the verified text.
    const index = PackagesIndex.fromText(text);
    await writeFileAtomic(`${path}.idx.json`, JSON.stringify(index.data));
    return { kind: 'hit', index };
  }

  /** Stores an index under `key`: `stored` is what the key's hash is of (the text, or the compressed file). */
  async putPackages(key: string, content: { stored: Buffer; text: string }): Promise<PackagesIndex> {
    const index = PackagesIndex.fromText(content.text);
    await mkdir(join(this.dir, 'indices'), { recursive: true });
    await writeFileAtomic(this.packagesPath(key), content.stored);
    await writeFileAtomic(`${this.packagesPath(key)}.idx.json`, JSON.stringify(index.data));
    return index;
  }

  private async dropPackages(key: string): Promise<void> {
    // The index first: an index without its text would be a miss, a text without its index is never read.
    await rm(`${this.packagesPath(key)}.idx.json`, { force: true });
    await rm(this.packagesPath(key), { force: true });
  }

  /**
   * The raw bytes of the last InRelease (or Release + its detached signature) that verified for
   * this suite. Callers verify it again, so a keyring change takes effect offline too.
   */
  async getRelease(uri: string, suite: string): Promise<{ raw: Buffer; signature?: Buffer } | undefined> {
    try {
      const raw = await readFile(this.releasePath(uri, suite));
      const signature = await readFile(`${this.releasePath(uri, suite)}.gpg`).catch(() => undefined);
      return signature ? { raw, signature } : { raw };
    } catch {
      return undefined;
    }
  }

  async putRelease(uri: string, suite: string, raw: Buffer, signature?: Buffer): Promise<void> {
    // Signature first: a crash between the writes leaves a signature that no longer matches, which verification catches.
    if (signature) await writeFileAtomic(`${this.releasePath(uri, suite)}.gpg`, signature);
    // An InRelease replaces a Release + Release.gpg pair (a mirror that switched): a stale detached
    // signature left beside it would make getRelease hand the InRelease to the detached check.
    else await rm(`${this.releasePath(uri, suite)}.gpg`, { force: true });
    await writeFileAtomic(this.releasePath(uri, suite), raw);
  }
}
