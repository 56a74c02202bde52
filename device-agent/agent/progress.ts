/**
 * `<stateDir>/progress.json` while an update downloads (docs/agent.md, "Local CLI"): the download's bytes so
 * far, rewritten at most once a second (a delta part reports far more often than anyone reads), and removed
 * when the update leaves downloading. `ota-agent status` reads it; the record holds no byte counts because a
 * save per chunk would be a disk write per chunk and count against the loop breaker.
 *
 * @example
 * const progress = progressWriter({ stateDir: '/var/lib/ota', now: () => new Date() });
 * progress.fetched('poll-1767225600', { phase: 'fetch', message: 'delta part 1/3', bytes: 4096, current: 4096, total: 65536 });
 * await progress.ended();
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import type { OtaEvent } from '../../common/events.js';
import { PROGRESS_FILE, type DownloadProgress } from '../cli/record-status.js';

/** At most one write per this many milliseconds. */
export const PROGRESS_INTERVAL_MS = 1000;

export interface ProgressWriter {
  /** A fetch event of the update `updateId`: written when a second has passed since the last write. */
  fetched(updateId: string, e: OtaEvent): void;
  /** The download ended (the update left downloading): the file goes. */
  ended(): Promise<void>;
  /** Resolves once the writes begun so far are on disk (tests, and before exiting). */
  settled(): Promise<void>;
}

/** The progress an event carries, or null for an event without byte counts. */
export function progressOfEvent(updateId: string, e: OtaEvent, at: Date): DownloadProgress | null {
  if (e.phase !== 'fetch' || e.bytes === undefined) return null;
  // The delta's events count bytes in current/total (bytes === current); a pull's count objects there, so
  // its total in bytes is unknown.
  const totalBytes = e.current === e.bytes && e.total !== undefined ? e.total : null;
  return { updateId, doneBytes: e.bytes, totalBytes, at: at.toISOString() };
}

/** Whether a write is due: the first one, or a second after the last. */
export function writeDue(lastWriteMs: number | null, nowMs: number): boolean {
  return lastWriteMs === null || nowMs - lastWriteMs >= PROGRESS_INTERVAL_MS;
}

export function progressWriter(options: { stateDir: string; now: () => Date }): ProgressWriter {
  const path = join(options.stateDir, PROGRESS_FILE);
  let last: number | null = null;
  let chain: Promise<void> = Promise.resolve();
  // Writes go one after another, so a removal never races a write that began before it.
  const queue = (work: () => Promise<void>) => {
    chain = chain.then(work).catch(() => {
      // progress is for people watching; a failed write must never fail the update
    });
  };
  return {
    fetched(updateId, e) {
      const at = options.now();
      const p = progressOfEvent(updateId, e, at);
      if (p === null || !writeDue(last, at.getTime())) return;
      last = at.getTime();
      queue(() => writeFileAtomic(path, `${JSON.stringify(p)}\n`));
    },
    async ended() {
      // Removed even when this process wrote nothing: a file left by a killed run is not this download's.
      last = null;
      queue(() => rm(path, { force: true }));
      await chain;
    },
    settled: () => chain,
  };
}
