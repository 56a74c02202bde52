import { randomBytes } from 'node:crypto';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { processRuns } from './pid.js';

/**
 * The unfinished download of one file into a cache that several processes share (every
 * `ota build` on a machine uses the same one). Each download writes to a name of its own
 * (`<dest>.<pid>-<random>.partial`), so two processes never append to one file, and the finished
 * file reaches `dest` only by an atomic rename after it verified: a reader sees the whole file or
 * none. What an interrupted download leaves is handed on by renaming too: `release` parks it at
 * `<dest>.partial`, and `claim` takes that (or a file whose process is gone, after a kill -9) for
 * itself; a rename succeeds for one claimant only, so the resume is never shared.
 *
 * @example
 * const p = await PartialFile.claim('/cache/debs/ab12.deb');
 * // ... append to p.path from p.size ...
 * await p.land(); // or p.release() to keep it for the next run
 */
export class PartialFile {
  private constructor(
    readonly dest: string,
    readonly path: string,
  ) {}

  /** The parked name a later run resumes from. */
  static parkedName(dest: string): string {
    return `${dest}.partial`;
  }

  static async claim(dest: string, pid = process.pid): Promise<PartialFile> {
    const own = new PartialFile(dest, `${dest}.${pid}-${randomBytes(4).toString('hex')}.partial`);
    for (const candidate of [PartialFile.parkedName(dest), ...(await orphansOf(dest))]) {
      try {
        await rename(candidate, own.path);
        return own;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return own;
  }

  async size(): Promise<number> {
    try {
      return (await stat(this.path)).size;
    } catch {
      return 0;
    }
  }

  async discard(): Promise<void> {
    await rm(this.path, { force: true });
  }

  /** Moves the (verified) file to its final name; another process may have landed the same bytes first. */
  async land(): Promise<void> {
    await rename(this.path, this.dest);
  }

  /** Keeps what was downloaded for a later run (nothing to keep: nothing left behind). */
  async release(): Promise<void> {
    if ((await this.size()) === 0) return this.discard();
    await rename(this.path, PartialFile.parkedName(this.dest)).catch(() => this.discard());
  }
}

/** Per-process partial files of `dest` whose process no longer runs (killed before it could park them). */
async function orphansOf(dest: string): Promise<string[]> {
  const prefix = `${basename(dest)}.`;
  let names: string[];
  try {
    names = await readdir(dirname(dest));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)-[0-9a-f]+\.partial$/.exec(name.slice(prefix.length));
    if (m && !processRuns(Number(m[1]))) out.push(join(dirname(dest), name));
  }
  return out;
}
