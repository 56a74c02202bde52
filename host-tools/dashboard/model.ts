/**
 * What the dashboard knows of the fleet (docs/dashboard.md, "What it shows"): the read side's
 * fleet state (docs/fleet.md, "ota fleet status") plus what the broker does not retain and the
 * dashboard keeps in memory while it runs: each device's last events and telemetry samples, and
 * the count of devices per booted version over time. Pure: `applyDashboardMessage` takes a
 * topic, a payload and the time, so the model is tested without a broker or a browser.
 * Everything here came from devices and is untrusted: sizes, schemas and the topic's device are
 * checked by the read side's functions, and every string is cleaned before it is kept.
 *
 * @example
 * const m = newDashboardModel('ota');
 * applyDashboardMessage(m, 'ota/devices/gw-1/status', payload, Date.now());
 * m.dirty.has('gw-1'); // true
 */
import { safeParseDocument, type Telemetry } from '../../contract/index.js';
import { readEventMessage, type EventMessage } from '../fleet/events.js';
import { applyMessage, deviceTopic, newFleetState, RETAINED_LEAVES, type DeviceRecord, type FleetState } from '../fleet/fleet-state.js';
import { deviceRow, type DeviceRow } from '../fleet/device-view.js';
import { cleanValue } from '../fleet/sanitize.js';

/** How much the dashboard keeps per device and for the fleet: bounded, whatever devices send. */
export const KEEP = { events: 100, telemetry: 120, historyPoints: 360, telemetryBytes: 16 * 1024 } as const;

/** An event as kept: when the dashboard received it, and the event or why it was refused. */
export type KeptEvent = { receivedAt: string } & EventMessage;

export interface TelemetryPoint {
  time: string;
  cpuPercent: number;
  memoryUsedPercent: number | null;
  temperatureCelsius: number | null;
  load1m: number;
}

/** One sample of the fleet's versions: booted version -> devices. */
export interface HistoryPoint {
  time: string;
  byVersion: Record<string, number>;
}

export interface DashboardModel {
  fleet: FleetState;
  events: Map<string, KeptEvent[]>;
  telemetry: Map<string, TelemetryPoint[]>;
  /** The last telemetry message refused, per device. */
  telemetryProblems: Map<string, string>;
  history: HistoryPoint[];
  /** Devices whose row changed since the last `takeDirty` (raw topic level). */
  dirty: Set<string>;
  /** Devices with a new event or sample since the last `takeDirty`. */
  dirtyDetail: Set<string>;
}

export function newDashboardModel(prefix: string): DashboardModel {
  return { fleet: newFleetState(prefix), events: new Map(), telemetry: new Map(), telemetryProblems: new Map(), history: [], dirty: new Set(), dirtyDetail: new Set() };
}

/** The topic filters under the prefix the dashboard's one subscription takes. */
export const DEVICE_FILTERS = [...RETAINED_LEAVES, 'events', 'telemetry'].map((leaf) => `devices/+/${leaf}`);

/**
 * Applies one message of a device's topics. Returns the device's raw id when anything of it
 * changed, null for a topic that is none of a device's.
 */
export function applyDashboardMessage(m: DashboardModel, topic: string, payload: Uint8Array, nowMs: number): string | null {
  const t = deviceTopic(m.fleet.prefix, topic);
  if (t === null) return null;
  if (t.leaf === 'events' || t.leaf === 'telemetry') {
    // A device id the contract refuses has no row to attach its events to.
    if (!m.fleet.devices.get(t.id)?.validId) return null;
    if (t.leaf === 'events') push(m.events, t.id, { receivedAt: new Date(nowMs).toISOString(), ...readEventMessage(t.id, payload) }, KEEP.events);
    else readTelemetry(m, t.id, payload);
    m.dirtyDetail.add(t.id);
    return t.id;
  }
  const id = applyMessage(m.fleet, topic, payload);
  if (id !== null) {
    m.dirty.add(id);
    if (!m.fleet.devices.has(id)) {
      m.events.delete(id);
      m.telemetry.delete(id);
      m.telemetryProblems.delete(id);
    }
  }
  return id;
}

function readTelemetry(m: DashboardModel, id: string, payload: Uint8Array): void {
  if (payload.byteLength > KEEP.telemetryBytes) {
    m.telemetryProblems.set(id, `malformed (${payload.byteLength} bytes, over the ${KEEP.telemetryBytes}-byte limit of a telemetry sample)`);
    return;
  }
  const r = safeParseDocument('Telemetry', payload);
  if (!r.ok || r.value.device !== id) {
    m.telemetryProblems.set(id, r.ok ? `malformed (it names device ${r.value.device}, not the device of its topic)` : 'malformed (not a telemetry document)');
    return;
  }
  m.telemetryProblems.delete(id);
  push(m.telemetry, id, telemetryPoint(r.value), KEEP.telemetry);
}

export function telemetryPoint(t: Telemetry): TelemetryPoint {
  const mem = t.memory.totalBytes > 0 ? (100 * (t.memory.totalBytes - t.memory.availableBytes)) / t.memory.totalBytes : null;
  return { time: t.time, cpuPercent: t.cpu.usagePercent, memoryUsedPercent: mem, temperatureCelsius: t.temperatureCelsius, load1m: t.cpu.loadAverage1m };
}

function push<T>(map: Map<string, T[]>, id: string, item: T, max: number): void {
  const list = map.get(id) ?? [];
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
  map.set(id, list);
}

/**
 * The row a fleet page shows: the read side's row (strings cleaned there) without what only the
 * device page needs. Small on purpose: a fleet of 10,000 is sent whole once, then by changes.
 */
export interface FleetRow {
  device: string;
  group: string | null;
  presence: DeviceRow['presence'];
  booted: string | null;
  phase: DeviceRow['phase'];
  health: DeviceRow['health'];
  /** Percent done of the download in progress, or null. */
  progress: number | null;
  lastSeen: string | null;
  /** Whether a document or the topic itself was refused. */
  malformed: boolean;
  lastError: string | null;
}

export function fleetRow(r: DeviceRow): FleetRow {
  const p = r.progress;
  const progress = p === null || p.totalBytes === null || p.totalBytes === 0 ? null : Math.min(100, Math.round((100 * p.doneBytes) / p.totalBytes));
  return {
    device: r.device,
    group: r.group,
    presence: r.presence,
    booted: r.booted,
    phase: r.phase,
    health: r.health,
    progress,
    lastSeen: r.lastSeen,
    malformed: Object.keys(r.problems).length > 0,
    lastError: r.lastError === null ? null : `${r.lastError.code}: ${r.lastError.message}`,
  };
}

/**
 * A record's row, computed again only when one of its documents was replaced (they are replaced,
 * never changed in place) or it has a refused document: a page's snapshot of 10,000 devices then
 * costs no cleaning or parsing of dates.
 */
const rowCache = new WeakMap<DeviceRecord, { status: unknown; presence: unknown; inventory: unknown; row: FleetRow }>();

function cachedRow(r: DeviceRecord): FleetRow {
  const c = rowCache.get(r);
  const clean = Object.keys(r.problems).length === 0;
  if (c !== undefined && clean && c.status === r.status && c.presence === r.presence && c.inventory === r.inventory) return c.row;
  const row = fleetRow(deviceRow(r));
  if (clean) rowCache.set(r, { status: r.status, presence: r.presence, inventory: r.inventory, row });
  return row;
}

/** Every device's row. */
export function fleetRows(m: DashboardModel): FleetRow[] {
  return [...m.fleet.devices.values()].map(cachedRow);
}

/** The order of a packed row's fields: the stream sends rows as arrays, a third of their size as objects. */
export const ROW_FIELDS = ['device', 'group', 'presence', 'booted', 'phase', 'health', 'progress', 'lastSeen', 'malformed', 'lastError'] as const satisfies readonly (keyof FleetRow)[];

export function packRows(rows: FleetRow[]): unknown[][] {
  return rows.map((r) => ROW_FIELDS.map((f) => r[f]));
}

/** The changes since the last call: rows of devices that changed, ids of devices gone. */
export function takeDirty(m: DashboardModel): { rows: FleetRow[]; removed: string[]; detail: string[] } {
  const rows: FleetRow[] = [];
  const removed: string[] = [];
  for (const id of m.dirty) {
    const r = m.fleet.devices.get(id);
    if (r === undefined) removed.push(id);
    else rows.push(cachedRow(r));
  }
  const detail = [...m.dirtyDetail];
  m.dirty.clear();
  m.dirtyDetail.clear();
  return { rows, removed, detail };
}

/** Devices per booted version now; `(none)` for a device without a readable booted deployment. */
export function versionCounts(m: DashboardModel): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of m.fleet.devices.values()) {
    const b = r.status?.deployments.booted ?? null;
    const v = b === null ? '(none)' : (b.version ?? b.commit.slice(0, 12));
    counts[v] = (counts[v] ?? 0) + 1;
  }
  return counts;
}

/** Adds a sample of the versions; returns it. The oldest samples go past `KEEP.historyPoints`. */
export function sampleHistory(m: DashboardModel, nowMs: number): HistoryPoint {
  const point = { time: new Date(nowMs).toISOString(), byVersion: cleanValue(versionCounts(m)) };
  m.history.push(point);
  if (m.history.length > KEEP.historyPoints) m.history.splice(0, m.history.length - KEEP.historyPoints);
  return point;
}

/**
 * What the device page shows of one device and its stream sends at each change: all but the
 * package inventory (up to 4 MiB), which the page fetches when `inventoryUpdatedAt` moves.
 * Null when the dashboard knows no such device.
 */
export function deviceSummary(m: DashboardModel, id: string) {
  const r = m.fleet.devices.get(id);
  if (r === undefined) return null;
  return {
    row: deviceRow(r),
    status: r.status === null ? null : cleanValue(r.status),
    presence: r.presence === null ? null : cleanValue(r.presence),
    inventoryUpdatedAt: r.inventory?.updatedAt ?? null,
    inventoryPackages: r.inventory?.packages.length ?? null,
    events: m.events.get(id) ?? [],
    telemetry: m.telemetry.get(id) ?? [],
    telemetryProblem: m.telemetryProblems.get(id) ?? null,
  };
}

/** A device's package inventory, cleaned; null without one. */
export function deviceInventory(m: DashboardModel, id: string) {
  const inv = m.fleet.devices.get(id)?.inventory ?? null;
  return inv === null ? null : cleanValue(inv);
}
