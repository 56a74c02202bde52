/**
 * What `ota fleet status` shows of each device, derived from its record
 * (docs/fleet.md, "ota fleet status"): presence, versions, phase, progress, a health word, the last error, when it was last
 * seen, and what was refused. Pure and sorted by id, so the table and the JSON agree and a test
 * compares them without a broker. Every string is cleaned of terminal controls here, once.
 *
 * @example
 * const view = fleetView(fleet, { group: 'canary' });
 * view.counts.byPhase.idle; // 12
 */
import type { DeploymentRef, UpdatePhase } from '../../contract/index.js';
import type { DeviceRecord, FleetState } from './fleet-state.js';
import { cleanText } from './sanitize.js';

export type Presence = 'online' | 'offline' | 'unknown';
/**
 * A word for how the device is doing, from its status alone (the health checks' own results are
 * events, which are not retained): `ok` idle or committed, `updating` in an update, `failed`,
 * `rolled-back` (rolling back or rolled back), `unknown` without a readable status.
 */
export type Health = 'ok' | 'updating' | 'failed' | 'rolled-back' | 'unknown';

export interface DeviceRow {
  device: string;
  group: string | null;
  presence: Presence;
  agentVersion: string | null;
  /** A deployment's version, or its commit's first 12 digits when it carries no version. */
  booted: string | null;
  staged: string | null;
  phase: UpdatePhase | null;
  updateId: string | null;
  progress: { doneBytes: number; totalBytes: number | null } | null;
  health: Health;
  lastError: { code: string; message: string; at: string } | null;
  /** The latest time any of its documents carries (status, inventory, the presence's connection); null: none. */
  lastSeen: string | null;
  /** `malformed (<reason>)` per document (status, online, inventory) or for the topic's id. */
  problems: Record<string, string>;
}

export interface FleetCounts {
  devices: number;
  presence: Record<Presence, number>;
  /** By booted version; `(none)` for a device without a readable status or booted deployment. */
  byVersion: Record<string, number>;
  /** By phase; `(none)` for a device without a readable status. */
  byPhase: Record<string, number>;
  malformed: number;
}

export interface FleetView {
  counts: FleetCounts;
  devices: DeviceRow[];
}

export interface ViewOptions {
  /** Only devices whose status says they follow this group. */
  group?: string;
}

export function fleetView(state: FleetState, options: ViewOptions = {}): FleetView {
  const rows = [...state.devices.values()]
    .filter((r) => options.group === undefined || r.status?.group === options.group)
    .map(deviceRow)
    .sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
  return { counts: countRows(rows), devices: rows };
}

export function deviceRow(r: DeviceRecord): DeviceRow {
  const s = r.status;
  const problems = Object.fromEntries(Object.entries(r.problems).map(([k, v]) => [k, cleanText(v)]));
  return {
    device: r.id,
    group: s?.group ?? null,
    presence: r.presence === null ? 'unknown' : r.presence.online ? 'online' : 'offline',
    agentVersion: cleanOrNull(s?.agentVersion ?? r.presence?.agentVersion ?? null),
    booted: deployment(s?.deployments.booted ?? null),
    staged: deployment(s?.deployments.staged ?? null),
    phase: s?.phase ?? null,
    updateId: cleanOrNull(s?.updateId ?? null),
    progress: s?.progress ?? null,
    health: health(s?.phase ?? null),
    lastError: s?.lastError ? { code: cleanText(s.lastError.code), message: cleanText(s.lastError.message), at: s.lastError.at } : null,
    lastSeen: latest([s?.updatedAt, r.inventory?.updatedAt, r.presence?.connectedAt]),
    problems,
  };
}

function countRows(rows: DeviceRow[]): FleetCounts {
  const counts: FleetCounts = { devices: rows.length, presence: { online: 0, offline: 0, unknown: 0 }, byVersion: {}, byPhase: {}, malformed: 0 };
  for (const r of rows) {
    counts.presence[r.presence]++;
    const v = r.booted ?? '(none)';
    counts.byVersion[v] = (counts.byVersion[v] ?? 0) + 1;
    const p = r.phase ?? '(none)';
    counts.byPhase[p] = (counts.byPhase[p] ?? 0) + 1;
    if (Object.keys(r.problems).length > 0) counts.malformed++;
  }
  return counts;
}

function health(phase: UpdatePhase | null): Health {
  switch (phase) {
    case null:
      return 'unknown';
    case 'idle':
    case 'committed':
      return 'ok';
    case 'failed':
      return 'failed';
    case 'rolling-back':
    case 'rolled-back':
      return 'rolled-back';
    default:
      return 'updating';
  }
}

function deployment(d: DeploymentRef | null): string | null {
  if (d === null) return null;
  return d.version ?? d.commit.slice(0, 12);
}

function cleanOrNull(s: string | null): string | null {
  return s === null ? null : cleanText(s);
}

function latest(times: (string | undefined)[]): string | null {
  let best: string | null = null;
  let bestMs = -Infinity;
  for (const t of times) {
    if (t === undefined) continue;
    const ms = Date.parse(t);
    if (ms > bestMs) [best, bestMs] = [t, ms];
  }
  return best;
}
