/**
 * The persisted state record (docs/agent.md, "The state machine"): which state the agent is in, the update in
 * progress with its release, commits, counters and ordered event log, and the last update's result. It is the
 * only memory the agent has across a crash or a reboot, so it is versioned, strict, and every change to it is
 * a pure function here; the store (store.ts) only writes what these functions return.
 *
 * @example
 * let r = beginUpdate(initialRecord(), { id: 'poll-1', at: new Date() });
 * r = applyTransition(r, { event: 'updateAvailable', to: 'downloading', at: new Date() });
 */
import { z } from 'zod';
import { API_VERSION, LIMITS, MAX_JWS_CHARS } from '../../contract/index.js';
import { commit, ref, text, time, version } from '../../contract/fields.js';
import { EVENTS, STATES, type AgentEvent, type State } from './states.js';

/**
 * Saves of the record allowed per update before the agent calls it a loop. The longest path the table allows
 * without a crash (check, download, apply later, arm, deploy, reboot, verify, roll back, reboot again, verify,
 * roll back, report) is 14 saves; every restart of the agent adds one. Mender stops at 28 for a table
 * of the same length; we allow 40 so that a device whose agent is restarted a few times per boot during an
 * update (the bootloader allows up to 10 boots) is not cut short, while a crash loop still ends in minutes.
 */
export const MAX_STATE_SAVES = 40;
/** Saves the forced rollback gets on top of MAX_STATE_SAVES before the agent gives up and rests. */
export const LOOP_ROLLBACK_SAVES = 12;
/** Log entries kept per update: every save adds at most one. */
export const MAX_LOG_ENTRIES = MAX_STATE_SAVES + LOOP_ROLLBACK_SAVES + 2;

export const ROLLBACK_REASONS = [
  /** A handler's work failed (the log entry's detail says how). */
  'failed',
  /** The agent was killed in a state that is not safe to repeat. */
  'interrupted',
  /** The new deployment booted and a required health check failed. */
  'unhealthy',
  /** The new deployment booted and the health checks' deadline passed. */
  'deadline',
  /** The bootloader ran out of tries and booted the previous deployment. */
  'bootloader-fallback',
  /** The agent saved its state more than MAX_STATE_SAVES times in this update. */
  'state-loop',
] as const;
export type RollbackReason = (typeof ROLLBACK_REASONS)[number];

export const RESULTS = ['committed', 'rolled-back', 'refused', 'failed'] as const;
export type UpdateResult = (typeof RESULTS)[number];

/** Log marks that are not events of the table: a restart that resumed the update, the loop breaker. */
export const LOG_MARKS = ['begin', 'resume', 'stateLoop'] as const;

/**
 * What started an update (docs/agent.md, "The state machine"): the group's release, a named version, the
 * deployment after the booted one, an offline bundle, or the repair of the boot order on start (repair.ts).
 */
export const INTENTS = ['upgrade', 'deploy', 'rollback', 'install', 'repair'] as const;
export type Intent = (typeof INTENTS)[number];

const detail = text;
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const logEntrySchema = z.strictObject({
  at: time,
  /** The state entered. */
  state: z.enum(STATES),
  /** The event that led there, or a mark (begin, resume, stateLoop). */
  event: z.enum([...EVENTS, ...LOG_MARKS]),
  detail: detail.optional(),
});

export const updateSchema = z.strictObject({
  /** The update's id: the release's version or the command's nonce (docs/contract.md, "Status"). */
  id: z.string().min(1).max(128),
  /** The signed release as received; null until checking has fetched and verified it. */
  releaseJws: z.string().min(1).max(MAX_JWS_CHARS.release).nullable(),
  version: version.nullable(),
  ref: ref.nullable(),
  /** The commit booted when the update began: where a rollback returns to. */
  fromCommit: commit.nullable(),
  toCommit: commit.nullable(),
  /** Stop after downloading (`ota-agent upgrade --download-only`, or the policy). */
  downloadOnly: z.boolean(),
  // The defaults read records written before these fields existed: such an update was an upgrade.
  intent: z.enum(INTENTS).default('upgrade'),
  /** The offline bundle (install only): an absolute path. */
  bundlePath: z.string().min(1).max(4096).startsWith('/').nullable().default(null),
  /**
   * A rollback to a deployment at or below the floor was allowed (`ota-agent rollback --below-floor`), or a deploy of
   * a named version below it (a signed rollback command with `belowFloor: true`).
   */
  belowFloor: z.boolean().default(false),
  /** The release's minVersion, known from checking on: committing raises the device's floor to it. */
  minVersion: version.nullable().default(null),
  /** Starts of the agent that worked on this update: 1, plus one per restart that resumed it. */
  attempt: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** Saves of the record during this update (the loop breaker counts them). */
  saves: count,
  startedAt: time,
  rollbackReason: z.enum(ROLLBACK_REASONS).nullable(),
  log: z.array(logEntrySchema).max(MAX_LOG_ENTRIES),
});

export const lastResultSchema = z.strictObject({
  id: z.string().min(1).max(128),
  version: version.nullable(),
  fromCommit: commit.nullable(),
  toCommit: commit.nullable(),
  result: z.enum(RESULTS),
  /** Why it ended so: a rollback reason, a refusal's message, a failure's message; null when committed. */
  reason: detail.nullable(),
  at: time,
  log: z.array(logEntrySchema).max(MAX_LOG_ENTRIES),
});

/**
 * Commits remembered as rolled back from (docs/agent.md, "Skipped releases"): without them the group's release
 * that just failed would be fetched and tried again at every poll, forever.
 */
export const MAX_SKIPPED = 16;

export const skippedSchema = z.strictObject({
  commit,
  version: version.nullable(),
  /** Why the update of this commit ended: its rollback reason. */
  reason: detail,
  at: time,
});

export const agentRecordSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('AgentState'),
  state: z.enum(STATES),
  update: updateSchema.nullable(),
  lastResult: lastResultSchema.nullable(),
  /** The highest minVersion of any release this device committed: preflight refuses anything at or below it. */
  floor: version.nullable().default(null),
  /** The last MAX_SKIPPED commits the device rolled back from, oldest first; an upgrade to one of them is skipped. */
  skippedReleases: z.array(skippedSchema).max(MAX_SKIPPED).default([]),
});

export type AgentRecord = z.infer<typeof agentRecordSchema>;
export type UpdateRecord = z.infer<typeof updateSchema>;
export type LastResult = z.infer<typeof lastResultSchema>;
export type LogEntry = z.infer<typeof logEntrySchema>;
export type SkippedRelease = z.infer<typeof skippedSchema>;

/** Fields a handler may set on the update record (what it learned: the release, the commits, a reason). */
export type UpdatePatch = Partial<Pick<UpdateRecord, 'releaseJws' | 'version' | 'ref' | 'fromCommit' | 'toCommit' | 'minVersion' | 'rollbackReason'>>;

/** A device that has never updated: idle, nothing in progress, no result. */
export function initialRecord(): AgentRecord {
  return { apiVersion: API_VERSION, kind: 'AgentState', state: 'idle', update: null, lastResult: null, floor: null, skippedReleases: [] };
}

export interface BeginOptions {
  id: string;
  at: Date;
  releaseJws?: string;
  downloadOnly?: boolean;
  /** Default 'upgrade'. */
  intent?: Intent;
  /** The offline bundle, absolute (install only). */
  bundlePath?: string;
  /** Rollback and deploy: allow a deployment or release at or below the floor. */
  belowFloor?: boolean;
}

/** Starts an update from idle: the record enters checking with a fresh update whose log says so. */
export function beginUpdate(record: AgentRecord, options: BeginOptions): AgentRecord {
  if (record.state !== 'idle' || record.update !== null) {
    throw new Error(`beginUpdate in state ${record.state}: the machine starts updates only from idle, this is a bug`);
  }
  const update: UpdateRecord = {
    id: options.id,
    releaseJws: options.releaseJws ?? null,
    version: null,
    ref: null,
    fromCommit: null,
    toCommit: null,
    downloadOnly: options.downloadOnly ?? false,
    intent: options.intent ?? 'upgrade',
    bundlePath: options.bundlePath ?? null,
    belowFloor: options.belowFloor ?? false,
    minVersion: null,
    attempt: 1,
    saves: 0,
    startedAt: options.at.toISOString(),
    rollbackReason: null,
    log: [{ at: options.at.toISOString(), state: 'checking', event: 'begin' }],
  };
  return { ...record, state: 'checking', update };
}

export interface TransitionOptions {
  event: AgentEvent;
  to: State;
  at: Date;
  detail?: string;
  patch?: UpdatePatch;
  /** The device's new floor (committing: raised to the release's minVersion). */
  floor?: string | null;
}

/**
 * The record after one edge of the table: the new state, the handler's patch, one log entry. Reaching idle
 * ends the update: it becomes the last result (an update that was only up to date leaves no result).
 */
export function applyTransition(record: AgentRecord, t: TransitionOptions): AgentRecord {
  const base = t.floor === undefined ? record : { ...record, floor: t.floor };
  if (base.update === null) return { ...base, state: t.to };
  const entry: LogEntry = { at: t.at.toISOString(), state: t.to, event: t.event, ...(t.detail === undefined ? {} : { detail: clip(t.detail) }) };
  const update: UpdateRecord = { ...base.update, ...t.patch, log: [...base.update.log, entry].slice(-MAX_LOG_ENTRIES) };
  if (t.to !== 'idle') return { ...base, state: t.to, update };
  if (t.event === 'upToDate') return { ...base, state: 'idle', update: null };
  return ended(base, update, resultOf(update, t.at));
}

/** The record once an update ended with `result`: idle, the result kept, the skipped releases brought up to date. */
function ended(record: AgentRecord, update: UpdateRecord, result: LastResult): AgentRecord {
  return { ...record, state: 'idle', update: null, lastResult: result, skippedReleases: rememberResult(record.skippedReleases, update, result) };
}

/**
 * The skipped releases after an update ended (docs/agent.md, "Skipped releases"): the commit of an update that
 * went back (any rollback reason but `interrupted`, a cut that says nothing about the release) is remembered,
 * newest last, the oldest dropped past MAX_SKIPPED; a commit that was committed is forgotten, it proved good.
 */
export function rememberResult(list: readonly SkippedRelease[], update: UpdateRecord, result: LastResult): SkippedRelease[] {
  const commit = update.toCommit;
  if (commit === null || commit === update.fromCommit) return [...list];
  const others = list.filter((s) => s.commit !== commit);
  if (result.result === 'committed') return others;
  if (update.rollbackReason === null || update.rollbackReason === 'interrupted') return [...list];
  return [...others, { commit, version: update.version, reason: update.rollbackReason, at: result.at }].slice(-MAX_SKIPPED);
}

/** The entry that makes an upgrade to `commit` skip it, if any. */
export function skippedRelease(list: readonly SkippedRelease[], commit: string): SkippedRelease | undefined {
  return list.find((s) => s.commit === commit);
}

/** The one line that says why a release is skipped (the update's log, `ota-agent upgrade --check`, status). */
export function skipText(s: SkippedRelease): string {
  return `${s.version ?? '(no version)'} (${s.commit.slice(0, 12)}) skipped: rolled back from at ${s.at} (${s.reason})`;
}

/** The record after a restart that resumes the update in the state it was in. */
export function markResumed(record: AgentRecord, at: Date): AgentRecord {
  if (record.update === null) return record;
  const entry: LogEntry = { at: at.toISOString(), state: record.state, event: 'resume' };
  const update = { ...record.update, attempt: record.update.attempt + 1, log: [...record.update.log, entry].slice(-MAX_LOG_ENTRIES) };
  return { ...record, update };
}

/** How an update ended, read from its log and rollback reason. */
export function resultOf(update: UpdateRecord, at: Date): LastResult {
  const { log } = update;
  const last = (event: string) => log.findLast((e) => e.event === event);
  const refused = last('refused');
  const failed = last('failed');
  let result: UpdateResult;
  let reason: string | null;
  if (last('committed') !== undefined) [result, reason] = ['committed', null];
  else if (last('rolledBack') !== undefined) [result, reason] = ['rolled-back', update.rollbackReason ?? 'failed'];
  else if (refused !== undefined) [result, reason] = ['refused', refused.detail ?? null];
  else [result, reason] = ['failed', failed?.detail ?? update.rollbackReason ?? null];
  return {
    id: update.id,
    version: update.version,
    fromCommit: update.fromCommit,
    toCommit: update.toCommit,
    result,
    reason,
    at: at.toISOString(),
    log,
  };
}

/**
 * The loop breaker (docs/agent.md, "The state machine"), applied to every record the store is asked to save:
 * counts the save, and past MAX_STATE_SAVES forces the update into rollingBack with reason state-loop; if the
 * rollback itself runs past LOOP_ROLLBACK_SAVES more, the agent gives up and rests in idle with a failed
 * result (the bootloader's counter still falls back on its own).
 */
export function countSave(record: AgentRecord, at: Date): AgentRecord {
  if (record.update === null) return record;
  const update = { ...record.update, saves: record.update.saves + 1 };
  const broken = update.rollbackReason === 'state-loop';
  if (update.saves > MAX_STATE_SAVES + LOOP_ROLLBACK_SAVES) {
    const failed = { ...resultOf(update, at), result: 'failed' as const, reason: `state-loop: more than ${MAX_STATE_SAVES + LOOP_ROLLBACK_SAVES} saves, the rollback did not finish` };
    return ended(record, update, failed);
  }
  if (update.saves <= MAX_STATE_SAVES || broken) return { ...record, update };
  const entry: LogEntry = { at: at.toISOString(), state: 'rollingBack', event: 'stateLoop', detail: `more than ${MAX_STATE_SAVES} saves in state ${record.state}` };
  return { ...record, state: 'rollingBack', update: { ...update, rollbackReason: 'state-loop', log: [...update.log, entry].slice(-MAX_LOG_ENTRIES) } };
}

function clip(text: string): string {
  return text.length <= LIMITS.textChars ? text : `${text.slice(0, LIMITS.textChars - 1)}…`;
}
