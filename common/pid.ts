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
