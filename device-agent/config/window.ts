import type { MaintenanceWindow } from './schema.js';

/**
 * Whether `at` falls in the daily maintenance window (UTC; start inclusive, end exclusive). A
 * window whose end is before its start crosses midnight (22:00-04:00); start equal to end is the
 * whole day. No window at all means any time.
 *
 * @example
 * inMaintenanceWindow({ start: '22:00', end: '04:00' }, new Date('2026-01-01T23:30:00Z')); // true
 */
export function inMaintenanceWindow(window: MaintenanceWindow | null, at: Date): boolean {
  if (window === null) return true;
  const now = at.getUTCHours() * 60 + at.getUTCMinutes();
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  if (start === end) return true;
  return start < end ? now >= start && now < end : now >= start || now < end;
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}
