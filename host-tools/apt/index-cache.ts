import { mkdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { PackagesIndex, type IndexData } from './packages-index.js';

/**
 * Where verified archive metadata is kept between runs: Packages texts and their indexes keyed by
 * the SHA256 that a verified InRelease listed (so a cached file is trusted exactly as much as a
 * fresh download), and the last verified InRelease of each suite, which lets `--offline` work.
 * `$OTA_CACHE_DIR`, else `$XDG_CACHE_HOME/ota`, else `~/.cache/ota`.
 *
 * @example
 * const cache = new IndexCache(defaultCacheDir());
 * const idx = await cache.getPackages(sha256);
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OTA_CACHE_DIR) return env.OTA_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'ota');
  return join(homedir(), '.cache', 'ota');
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

  /** A cached Packages index, or undefined. The text is written before its index, so an index implies its text. */
  async getPackages(key: string): Promise<PackagesIndex | undefined> {
    let data: IndexData;
    try {
      data = JSON.parse(await readFile(`${this.packagesPath(key)}.idx.json`, 'utf8')) as IndexData;
    } catch {
      return undefined;
    }
    if (data.version !== 1) return undefined;
    const text = await readFile(this.packagesPath(key), 'utf8');
    return PackagesIndex.fromCache(text, data);
  }

  async putPackages(key: string, text: string): Promise<PackagesIndex> {
    const index = PackagesIndex.fromText(text);
    await mkdir(join(this.dir, 'indices'), { recursive: true });
    await writeFileAtomic(this.packagesPath(key), text);
    await writeFileAtomic(`${this.packagesPath(key)}.idx.json`, JSON.stringify(index.data));
    return index;
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
