/**
 * `new Date(ms).toISOString()` without a Date, for the long-lived relay (docs/agent.md,
 * "Footprint of the relay"): the first Date a process makes and formats has V8 set up its date
 * cache and ICU's time zone and calendar code, about 1 MB of the executable resident for as long
 * as the process runs, though an ISO time in UTC needs none of it. Days to a civil date are Howard
 * Hinnant's `civil_from_days` (proleptic Gregorian). Outside years 1970 to 9999 (where
 * toISOString's format changes) it hands over to Date.
 *
 * @example
 * isoTime(0); // '1970-01-01T00:00:00.000Z'
 */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= MAX_MS) return new Date(ms).toISOString();
  const days = Math.floor(ms / DAY_MS);
  const inDay = ms - days * DAY_MS;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const h = Math.floor(inDay / 3_600_000);
  const m = Math.floor((inDay % 3_600_000) / 60_000);
  const s = Math.floor((inDay % 60_000) / 1000);
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}.${pad(inDay % 1000, 3)}Z`;
}

/** Now, as isoTime. */
export function isoNow(): string {
  return isoTime(Date.now());
}

const DAY_MS = 86_400_000;
/** 10000-01-01T00:00:00.000Z. */
const MAX_MS = 253_402_300_800_000;

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
