import { z } from 'zod';
import { LIMITS, type Status, type UpdatePhase } from '../../contract/index.js';
import { resultOf, type AgentRecord, type UpdateResult } from '../engine/record.js';
import type { State } from '../engine/states.js';

/**
 * The update half of the status document, read from the engine's state record (docs/agent.md,
 * "Local CLI"): the phase, the update's id and the last error. The record is what the agent
 * itself reads on start, so status and agent cannot disagree about where an update is.
 *
 * @example
 * const { phase, updateId, lastError } = updateStatus(await store.load());
 */
export type RecordRead = { record: AgentRecord } | { error: { code: string; message: string; at: Date } };

/**
 * The contract's phase for each state of the machine. awaitingReboot is staged: deployed and
 * armed, the reboot not yet done. reporting tells how the update ended.
 */
const PHASE: Readonly<Record<Exclude<State, 'reporting'>, UpdatePhase>> = {
  idle: 'idle',
  checking: 'checking',
  downloading: 'downloading',
  downloaded: 'downloaded',
  deploying: 'staging',
  arming: 'staging',
  rebooting: 'rebooting',
  awaitingReboot: 'staged',
  verifying: 'verifying',
  // Committed only once the bootloader has marked it good: until then a power cut still rolls back.
  committing: 'verifying',
  rollingBack: 'rolling-back',
};

const ENDED: Readonly<Record<UpdateResult, UpdatePhase>> = { committed: 'committed', 'rolled-back': 'rolled-back', refused: 'failed', failed: 'failed' };

/**
 * `<stateDir>/progress.json`, which the agent rewrites (at most once a second) while it downloads
 * and removes when the download ends (docs/agent.md, "Local CLI"). Not the contract's: only the
 * agent and its status read it.
 */
export const PROGRESS_FILE = 'progress.json';

export const downloadProgressSchema = z.strictObject({
  updateId: z.string().min(1).max(128),
  doneBytes: z.number().int().nonnegative(),
  totalBytes: z.number().int().nonnegative().nullable(),
  at: z.iso.datetime({ offset: true }),
});

export type DownloadProgress = z.infer<typeof downloadProgressSchema>;

/** The progress file's text as progress, or null for anything else: a torn or foreign file is simply no progress. */
export function parseDownloadProgress(text: string): DownloadProgress | null {
  try {
    const r = downloadProgressSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * The update's phase, id, progress and last error. `progress` counts only while the record says
 * downloading and names the same update: a file left by an earlier update (a kill before its
 * removal) is not this one's.
 */
export function updateStatus(read: RecordRead, now: Date, progress: DownloadProgress | null = null): Pick<Status, 'phase' | 'updateId' | 'progress' | 'lastError'> {
  if ('error' in read) {
    // An unreadable record: the agent cannot say where it is, and says why.
    return { phase: 'failed', updateId: null, progress: null, lastError: { code: read.error.code, message: clip(read.error.message), at: read.error.at.toISOString() } };
  }
  const { record } = read;
  const phase = record.state === 'reporting' ? (record.update === null ? 'idle' : ENDED[resultOf(record.update, now).result]) : PHASE[record.state];
  const last = record.lastResult;
  const lastError =
    last === null || last.result === 'committed'
      ? null
      : { code: `update-${last.result}`, message: clip(`update ${last.id}${last.version === null ? '' : ` (${last.version})`}: ${last.reason ?? last.result}`), at: last.at };
  const current = progress !== null && record.state === 'downloading' && record.update?.id === progress.updateId;
  return { phase, updateId: record.update?.id ?? null, progress: current ? { doneBytes: progress.doneBytes, totalBytes: progress.totalBytes } : null, lastError };
}

function clip(text: string): string {
  return text.length <= LIMITS.textChars ? text : `${text.slice(0, LIMITS.textChars - 1)}…`;
}
