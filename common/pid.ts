import { open, unlink } from 'node:fs/promises';

/**
 * Whether a process id names a running process: how leftovers (partial downloads, stage 2 work
 * directories, a publish lock) that carry their owner's pid tell a live owner from a killed one.
 * EPERM means it runs, as another user. A reused pid reads as running: the leftover then waits
 * for the next cleanup instead of being taken from a live owner.
 *
 * @example
 * if (!processRuns(Number(pidText))) await rm(leftover);
 */
export function processRuns(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Creates a lock file holding this process's pid, only if none exists (`wx`): returns its release, or null when
 * another holds it. What to do then (fail at once, wait, take over a dead holder's file) is the caller's policy.
 *
 * @example
 * const release = await createPidFile(path, 0o600);
 * if (release === null) { ... }
 */
export async function createPidFile(path: string, mode: number): Promise<(() => Promise<void>) | null> {
  try {
    const fh = await open(path, 'wx', mode);
    await fh.writeFile(`${process.pid}\n`);
    await fh.close();
    return () => unlink(path).catch(() => {});
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw e;
  }
}
