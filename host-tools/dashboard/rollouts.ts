/**
 * The rollouts page's data (docs/dashboard.md, "Rollouts"): each rollout the controller's state
 * folder holds (docs/fleet.md, "Where a rollout's state lives"), its waves counted against the
 * limit with the controller's own functions (`countWave` over the devices the dashboard's model
 * knows), and a timeline the dashboard fills as devices report while it runs. Read only: the
 * actions go through rollout-control.ts, as the CLI's do.
 *
 * @example
 * const tracker = newRolloutTracker('/root/.local/state/deb-ota/rollouts');
 * if (await tracker.refresh(model.fleet, new Date())) live.rolloutsChanged();
 * tracker.view(); // [{ group: 'lab', phase: 'running', waves: [...] }]
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import type { FleetState } from '../fleet/fleet-state.js';
import { countWave, type WaveCount } from '../fleet/rollout-decide.js';
import { observations } from '../fleet/rollout-run.js';
import { loadRolloutState, type RolloutControl } from '../fleet/rollout-state.js';
import { cleanText } from '../fleet/sanitize.js';

/** Failed devices named per wave on the page (the CLI's output has them all). */
const NAMED = 50;
/** Timeline points kept per rollout. */
const TIMELINE = 600;

export interface WaveView {
  index: number;
  basisPoints: number;
  /** Whether the wave has started (the current one or an earlier one). */
  started: boolean;
  current: boolean;
  /** Devices of the group the wave holds (all earlier waves' too: a wave widens the one before). */
  expected: number;
  succeeded: number;
  failed: number;
  updating: number;
  pending: number;
  offline: number;
  excused: number;
  failedDevices: string[];
  /** Whether failures over results pass the limit (the controller halts on it with enough results). */
  overLimit: boolean;
}

export interface TimelinePoint {
  time: string;
  wave: number;
  phase: string;
  succeeded: number;
  failed: number;
  updating: number;
  pending: number;
}

export interface RolloutView {
  file: string;
  id: string;
  group: string;
  release: { version: string; commit: string };
  phase: string;
  reason: string | null;
  startedAt: string;
  waveStartedAt: string;
  soakSeconds: number;
  soakStartedAt: string | null;
  limit: { maxFailureBasisPoints: number; minDevices: number };
  devices: number;
  waves: WaveView[];
  timeline: TimelinePoint[];
}

export type RolloutEntry = RolloutView | { file: string; problem: string };

export interface RolloutTracker {
  /**
   * Reads the state folder again and recounts; true when anything the page shows changed.
   * `fleetChanges` is the model's change counter: with it and the files unchanged, nothing is recounted.
   */
  refresh: (fleet: FleetState, now: Date, fleetChanges: number) => Promise<boolean>;
  view: () => RolloutEntry[];
  /** The state file of a group's rollout (for the actions). */
  statePath: (group: string) => string;
}

export function newRolloutTracker(dir: string): RolloutTracker {
  const timelines = new Map<string, TimelinePoint[]>();
  let entries: RolloutEntry[] = [];
  let last = '';
  let seen = '';
  return {
    statePath: (group) => join(dir, `${group}.json`),
    view: () => entries,
    refresh: async (fleet, now, fleetChanges) => {
      const files = await stateFiles(dir);
      const sig = JSON.stringify([fleetChanges, files]);
      if (sig === seen) return false;
      seen = sig;
      const next: RolloutEntry[] = [];
      for (const { name: file } of files) {
        try {
          const state = await loadRolloutState(join(dir, file));
          if (state !== null) next.push(rolloutView(file, state, fleet, timelineOf(timelines, state.id)));
        } catch (e) {
          next.push({ file, problem: e instanceof OtaError ? e.message : String(e) });
        }
      }
      for (const e of next) if ('id' in e) record(timelineOf(timelines, e.id), e, now);
      const key = JSON.stringify(next.map((e) => ('id' in e ? { ...e, timeline: e.timeline.length } : e)));
      entries = next;
      if (key === last) return false;
      last = key;
      return true;
    },
  };
}

/** The state files with their modification times (a change of either means a recount). */
async function stateFiles(dir: string): Promise<{ name: string; mtimeMs: number }[]> {
  try {
    const names = await readdir(dir);
    const files = [];
    for (const name of names.filter((f) => f.endsWith('.json')).sort()) {
      const st = await stat(join(dir, name)).catch(() => null);
      if (st?.isFile()) files.push({ name, mtimeMs: st.mtimeMs });
    }
    return files;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

function timelineOf(map: Map<string, TimelinePoint[]>, id: string): TimelinePoint[] {
  const t = map.get(id) ?? [];
  map.set(id, t);
  return t;
}

/** Adds a point when the current wave's counts or the phase changed since the last one. */
function record(t: TimelinePoint[], v: RolloutView, now: Date): void {
  const w = v.waves.find((x) => x.current) ?? v.waves[0]!;
  const p: TimelinePoint = { time: now.toISOString(), wave: w.index, phase: v.phase, succeeded: w.succeeded, failed: w.failed, updating: w.updating, pending: w.pending };
  const prev = t.at(-1);
  if (prev !== undefined && JSON.stringify({ ...prev, time: '' }) === JSON.stringify({ ...p, time: '' })) return;
  t.push(p);
  if (t.length > TIMELINE) t.splice(0, t.length - TIMELINE);
}

/** One rollout as the page shows it: pure, from the controller's state and the devices known. */
export function rolloutView(file: string, s: RolloutControl, fleet: FleetState, timeline: TimelinePoint[]): RolloutView {
  const devices = observations(fleet, s.group);
  const waves = s.waves.map((basisPoints, index) => waveView(s, index <= s.wave.index ? countWave(s, devices, index) : null, { index, basisPoints }));
  return {
    file,
    id: s.id,
    group: s.group,
    release: { version: s.release.version, commit: s.release.commit },
    phase: s.phase,
    reason: s.reason === null ? null : cleanText(s.reason),
    startedAt: s.startedAt,
    waveStartedAt: s.wave.startedAt,
    soakSeconds: s.soakSeconds,
    soakStartedAt: s.wave.soakStartedAt,
    limit: { maxFailureBasisPoints: s.maxFailureBasisPoints, minDevices: s.minDevices },
    devices: devices.length,
    waves,
    timeline,
  };
}

function waveView(s: RolloutControl, c: WaveCount | null, w: { index: number; basisPoints: number }): WaveView {
  const n = (k: keyof WaveCount['byOutcome']) => c?.byOutcome[k].length ?? 0;
  const failed = n('failed');
  const results = n('succeeded') + failed;
  return {
    ...w,
    started: c !== null,
    current: w.index === s.wave.index,
    expected: c?.expected ?? 0,
    succeeded: n('succeeded'),
    failed,
    updating: n('updating'),
    pending: n('pending'),
    offline: n('offline'),
    excused: c?.excused.length ?? 0,
    failedDevices: (c?.byOutcome.failed ?? []).slice(0, NAMED),
    overLimit: failed > 0 && failed * 10_000 > s.maxFailureBasisPoints * results,
  };
}
