/**
 * Plain-text tables for `ota fleet` (docs/fleet.md): columns padded to their widest cell, each
 * cell cut to a column's limit. Cells are cleaned of terminal controls again here, whatever the
 * caller did, so nothing a device sent can move the cursor or reorder the text on screen.
 *
 * @example
 * renderTable(['DEVICE', 'PHASE'], [['gw-1', 'idle']]); // ['DEVICE  PHASE', 'gw-1    idle']
 */
import { formatBytes } from '../../common/units.js';
import type { DeviceRow, FleetCounts, FleetView } from './device-view.js';
import { cleanText } from './sanitize.js';

export interface Column {
  title: string;
  /** Longest cell; longer ones end with "…". */
  maxChars?: number;
}

export function renderTable(columns: (string | Column)[], rows: string[][]): string[] {
  const cols = columns.map((c) => (typeof c === 'string' ? { title: c } : c));
  const cells = rows.map((r) => cols.map((c, i) => cleanText(r[i] ?? '', { maxChars: c.maxChars ?? 64 })));
  const widths = cols.map((c, i) => Math.max(c.title.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cols.map((c) => c.title)), ...cells.map(line)];
}

const STATUS_COLUMNS: Column[] = [
  { title: 'DEVICE' },
  { title: 'PRESENCE' },
  { title: 'BOOTED', maxChars: 24 },
  { title: 'STAGED', maxChars: 24 },
  { title: 'PHASE' },
  { title: 'PROGRESS' },
  { title: 'HEALTH' },
  { title: 'LAST ERROR', maxChars: 48 },
  { title: 'LAST SEEN' },
  { title: 'NOTE', maxChars: 96 },
];

/** `ota fleet status`'s text: the counts, then one row per device. `now` makes "last seen" an age. */
export function statusLines(view: FleetView, now: Date): string[] {
  const rows = view.devices.map((d) => statusRow(d, now));
  return [...countLines(view.counts), '', ...renderTable(STATUS_COLUMNS, rows)];
}

export function countLines(c: FleetCounts): string[] {
  const tally = (m: Record<string, number>) =>
    Object.entries(m)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .map(([k, n]) => `${cleanText(k, { maxChars: 32 })} ${n}`)
      .join(', ');
  const malformed = c.malformed > 0 ? `; ${c.malformed} with malformed documents` : '';
  return [
    `${c.devices} device${c.devices === 1 ? '' : 's'}: ${c.presence.online} online, ${c.presence.offline} offline, ${c.presence.unknown} presence unknown${malformed}`,
    `versions: ${tally(c.byVersion) || '-'}`,
    `phases: ${tally(c.byPhase) || '-'}`,
  ];
}

function statusRow(d: DeviceRow, now: Date): string[] {
  return [
    d.device,
    d.presence,
    d.booted ?? '-',
    d.staged ?? '-',
    d.phase ?? '-',
    progressCell(d.progress),
    d.health,
    d.lastError === null ? '-' : `${d.lastError.code}: ${d.lastError.message}`,
    d.presence === 'online' ? 'online now' : age(d.lastSeen, now),
    Object.entries(d.problems)
      .map(([doc, why]) => `${doc}: ${why}`)
      .join('; '),
  ];
}

function progressCell(p: DeviceRow['progress']): string {
  if (p === null) return '-';
  if (p.totalBytes === null || p.totalBytes === 0) return formatBytes(p.doneBytes);
  return `${Math.floor((100 * p.doneBytes) / p.totalBytes)}% of ${formatBytes(p.totalBytes)}`;
}

/** How long ago a time was, in the largest whole unit: "40s ago", "3m ago", "5h ago", "2d ago". */
export function age(time: string | null, now: Date): string {
  if (time === null) return '-';
  const s = Math.floor((now.getTime() - Date.parse(time)) / 1000);
  if (!Number.isFinite(s)) return '-';
  if (s < 0) return 'in the future';
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.floor(s / 60)}m ago`;
  if (s < 172800) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
