/**
 * The rollout controller's decision, pure (docs/fleet.md, "How a wave ends";
 * docs/conventions.md, "Plan as data"): from its state, what the devices' retained documents say and the clock, the actions to take (start
 * the next wave, start a soak, halt, complete), then the state those actions make. The loop around it
 * (rollout-run.ts) only reads the broker, signs and publishes.
 *
 * @example
 * const actions = decide(state, observations, new Date());
 * const { state: next, publish } = applyActions(state, actions, new Date());
 */
import { compareVersions } from '../../common/dpkg-version.js';
import { inWave, rolloutBucket, type Rollout, type Status } from '../../contract/index.js';
import type { RolloutControl } from './rollout-state.js';

/** What the controller knows of one device of the group. */
export interface DeviceObservation {
  id: string;
  /** The presence document's word; null when there is none. */
  online: boolean | null;
  status: Status | null;
}

/**
 * Where a device is with the rollout's release: `succeeded` booted on it and idle or committed (its health
 * checks passed: the agent commits only then), `failed` the update of that version failed, rolled back or was
 * refused since the rollout started, `updating` in an update of it, `skipped` booted on a newer version (it
 * has nothing to take: it neither counts nor holds the wave), `offline` none of these and offline, `pending` none
 * of these yet.
 */
export type Outcome = 'succeeded' | 'failed' | 'updating' | 'skipped' | 'pending' | 'offline';

/** Phases in which no update is under way: the last one ended, or none began. */
const RESTING = new Set<Status['phase']>(['idle', 'committed', 'failed', 'rolled-back']);
const FAILED_CODES = new Set(['update-failed', 'update-rolled-back', 'update-refused']);

export function outcome(d: DeviceObservation, version: string, since: Date): Outcome {
  const s = d.status;
  if (s !== null) {
    const booted = s.deployments.booted?.version ?? null;
    if (booted === version && (s.phase === 'idle' || s.phase === 'committed')) return 'succeeded';
    // Its refusal of an older release (preflight) is no failure of the rollout (docs/fleet.md, "How a wave ends").
    if (booted !== null && newer(booted, version) && !(s.updateId === version && !RESTING.has(s.phase))) return 'skipped';
    if (s.updateId === version && (s.phase === 'failed' || s.phase === 'rolled-back')) return 'failed';
    // An update ended: the agent keeps `update <id> (<version>): <reason>` as its last error (docs/contract.md, "Status").
    const e = s.lastError;
    if (e !== null && FAILED_CODES.has(e.code) && new Date(e.at) >= since && (e.message.startsWith(`update ${version} `) || e.message.startsWith(`update ${version}:`))) return 'failed';
    if (s.updateId === version && s.phase !== 'idle') return 'updating';
  }
  return d.online === false ? 'offline' : 'pending';
}

/** Whether `a` sorts after `b` in dpkg's order; versions that are not dpkg versions compare as not newer. */
function newer(a: string, b: string): boolean {
  try {
    return compareVersions(a, b) > 0;
  } catch {
    return false;
  }
}

/** The devices a wave holds, by outcome. */
export interface WaveCount {
  index: number;
  basisPoints: number;
  expected: number;
  byOutcome: Record<Outcome, string[]>;
  /** Excused failures (a resume after a halt): not counted. */
  excused: string[];
}

export function countWave(state: RolloutControl, devices: readonly DeviceObservation[], index = state.wave.index): WaveCount {
  const basisPoints = state.waves[index]!;
  const byOutcome: Record<Outcome, string[]> = { succeeded: [], failed: [], updating: [], skipped: [], pending: [], offline: [] };
  const excused: string[] = [];
  const since = new Date(state.startedAt);
  let expected = 0;
  for (const d of devices) {
    if (!inWave(rolloutBucket(state.id, d.id), basisPoints)) continue;
    expected++;
    const o = outcome(d, state.release.version, since);
    if (o === 'failed' && state.excused.includes(d.id)) excused.push(d.id);
    else byOutcome[o].push(d.id);
  }
  for (const ids of Object.values(byOutcome)) ids.sort();
  return { index, basisPoints, expected, byOutcome, excused };
}

export type Action =
  | { type: 'start-wave'; index: number }
  | { type: 'soak' }
  | { type: 'halt'; reason: string; failed: string[] }
  | { type: 'complete' };

const pct = (bp: number) => `${bp / 100}%`;

/** Whether failures over results pass the rate (in basis points): failures/results > rate. */
function overRate(failed: number, results: number, maxBp: number): boolean {
  return failed > 0 && failed * 10_000 > maxBp * results;
}

/**
 * The next actions of a running rollout; none while paused or ended, or while the wave is under way. A wave
 * halts the rollout as soon as its failures pass the rate with at least `minDevices` results, and when it ends
 * over the rate whatever the number; it ends when none of its devices is pending or updating (offline devices
 * do not hold it: they take the release when they return). Then it soaks, then the next wave starts.
 */
export function decide(state: RolloutControl, devices: readonly DeviceObservation[], now: Date): Action[] {
  if (state.phase !== 'running') return [];
  const c = countWave(state, devices);
  const failed = c.byOutcome.failed.length;
  const results = c.byOutcome.succeeded.length + failed;
  const over = overRate(failed, results, state.maxFailureBasisPoints);
  const rate = `${failed} of ${results} results failed, over the ${pct(state.maxFailureBasisPoints)} allowed`;
  if (over && results >= state.minDevices) return [{ type: 'halt', reason: `wave ${c.index + 1} (${pct(c.basisPoints)}): ${rate}`, failed: c.byOutcome.failed }];
  if (c.byOutcome.pending.length + c.byOutcome.updating.length > 0) return [];
  if (over) return [{ type: 'halt', reason: `wave ${c.index + 1} (${pct(c.basisPoints)}) ended: ${rate}`, failed: c.byOutcome.failed }];
  const soakStarted = state.wave.soakStartedAt === null ? now : new Date(state.wave.soakStartedAt);
  const soaked = now.getTime() - soakStarted.getTime() >= state.soakSeconds * 1000;
  const soak: Action[] = state.wave.soakStartedAt === null ? [{ type: 'soak' }] : [];
  if (!soaked) return soak;
  return [...soak, c.index + 1 < state.waves.length ? { type: 'start-wave', index: c.index + 1 } : { type: 'complete' }];
}

/** The state after `actions`, and whether a new rollout document must be signed and published. */
export function applyActions(state: RolloutControl, actions: readonly Action[], now: Date): { state: RolloutControl; publish: boolean } {
  let s = state;
  let publish = false;
  const at = now.toISOString();
  for (const a of actions) {
    if (a.type === 'soak') s = { ...s, wave: { ...s.wave, soakStartedAt: at } };
    else if (a.type === 'start-wave') {
      s = { ...s, wave: { index: a.index, startedAt: at, soakStartedAt: null } };
      publish = true;
    } else if (a.type === 'halt') {
      s = { ...s, phase: 'halted', reason: a.reason, failedDevices: a.failed };
      publish = true;
    } else s = { ...s, phase: 'completed', reason: null };
  }
  return { state: s, publish };
}

/**
 * The rollout document the state stands for (docs/contract.md, "Rollout"). A halted rollout is `paused` for
 * the devices (what is under way finishes, nothing new starts), with the halt's reason; a completed one stays
 * `running` at the whole group, so a device that returns after it still takes the release.
 */
export function rolloutDocument(s: RolloutControl): Rollout {
  const state = s.phase === 'halted' ? 'paused' : s.phase === 'completed' ? 'running' : s.phase;
  const reason = s.phase === 'halted' ? `halted: ${s.reason ?? ''}`.slice(0, 2048) : s.reason;
  return {
    apiVersion: 'deb-ota/v1',
    kind: 'Rollout',
    id: s.id,
    group: s.group,
    release: { version: s.release.version, commit: s.release.commit, sha256: s.release.sha256 },
    wave: { index: s.wave.index, basisPoints: s.waves[s.wave.index]! },
    state,
    reason,
  };
}

/** The `iat` of the next document: now, but always after the last one signed (a device accepts only later ones). */
export function nextIssuedAt(s: Pick<RolloutControl, 'lastIssuedAt'>, now: Date): number {
  return Math.max(Math.floor(now.getTime() / 1000), s.lastIssuedAt + 1);
}
