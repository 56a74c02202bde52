import { mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { createPidFile, processRuns } from '../../common/pid.js';

/**
 * One writer at a time for a group's rollout state (docs/fleet.md, "Where a rollout's state lives"): the
 * controller's round and `ota fleet pause|resume|abort` each read, change and write the file, then publish,
 * inside this lock, so neither overwrites the other's change with what it read before it. The lock is a file
 * beside the state, `<state>.lock`, holding the owner's pid; it is held for one read-change-write-publish (well
 * under a second), and one left by a killed process (its pid gone) is taken over.
 *
 * @example
 * await withStateLock(statePath, async () => {
 *   const state = await loadRolloutState(statePath);
 *   ...
 * });
 */
export interface StateLockOptions {
  /** How long to wait for another holder before giving up; default 30 s. */
  waitMs?: number;
  /** Between two tries; default 50 ms. */
  retryMs?: number;
}

export async function withStateLock<T>(statePath: string, work: () => Promise<T>, o: StateLockOptions = {}): Promise<T> {
  const release = await takeLock(`${statePath}.lock`, o.waitMs ?? 30_000, o.retryMs ?? 50);
  try {
    return await work();
  } finally {
    await release();
  }
}

async function takeLock(path: string, waitMs: number, retryMs: number): Promise<() => Promise<void>> {
  const until = Date.now() + waitMs;
  let holder = 0;
  // A new rollout's state folder may not exist yet; the state is written into it right after.
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  for (;;) {
    const release = await createPidFile(path, 0o600);
    if (release !== null) return release;
    const text = await readFile(path, 'utf8').catch(() => null);
    holder = Number((text ?? '').trim());
    // Written between the open and the pid (a holder just starting): a moment later it names its owner.
    if (text !== null && text !== '' && !processRuns(holder)) await unlink(path).catch(() => {});
    else if (Date.now() >= until) {
      throw new OtaError('ERR_OTA_STATE', `rollout state ${path.slice(0, -'.lock'.length)} is locked by pid ${holder || '?'}`, {
        hint: `another ota fleet command on this group is changing it; try again, or remove ${path} if no such process runs`,
      });
    } else await new Promise((r) => setTimeout(r, retryMs));
  }
}
