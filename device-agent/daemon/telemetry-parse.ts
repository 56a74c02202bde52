/**
 * Pure parsers of the kernel's text files that telemetry reads (docs/agent.md, "Telemetry"): each
 * takes a file's text and returns numbers, so every odd layout is a unit test with fixture text.
 * They throw only on text that is not the file they parse; values that do not fit the contract's
 * bounds are clamped or dropped, never passed on.
 */
import { LIMITS } from '../../contract/limits.js';

/** Cumulative CPU time in jiffies since boot, from the `cpu` line of /proc/stat. */
export interface CpuSample {
  busy: number;
  total: number;
}

export interface InterfaceCounters {
  interface: string;
  rxBytes: number;
  txBytes: number;
}

function bad(file: string, why: string): Error {
  return new Error(`${file}: ${why}`);
}

/** A counter as the contract's `bytes`/`count`: a non-negative safe integer. */
function counter(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return Math.min(Number(text), Number.MAX_SAFE_INTEGER);
}

/**
 * The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal (guest
 * and guest_nice are already counted in user and nice, so they are left out of the total). Idle
 * is idle + iowait: waiting for a disk is not work the CPU did.
 */
export function parseCpuStat(text: string): CpuSample {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  const fields = line?.trim().split(/\s+/).slice(1, 9).map(counter) ?? [];
  if (fields.length < 4 || fields.some((f) => f === undefined)) throw bad('/proc/stat', 'no aggregate "cpu" line of counters');
  const n = fields as number[];
  const total = n.reduce((a, b) => a + b, 0);
  const idle = n[3]! + (n[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * CPU usage in percent between two samples; with no previous sample, the average since boot.
 * Counters that went backwards (a restart of the count, a hot-unplugged CPU) give 0, not a
 * negative number.
 */
export function cpuUsagePercent(previous: CpuSample | null, current: CpuSample): number {
  const total = current.total - (previous?.total ?? 0);
  const busy = current.busy - (previous?.busy ?? 0);
  if (total <= 0 || busy <= 0) return 0;
  return Math.round(Math.min(100, (busy / total) * 100) * 100) / 100;
}

/** The 1-minute load average, the first field of /proc/loadavg. */
export function parseLoadAverage(text: string): number {
  const first = text.trim().split(/\s+/)[0] ?? '';
  const value = /^\d+(\.\d+)?$/.test(first) ? Number(first) : NaN;
  if (Number.isNaN(value)) throw bad('/proc/loadavg', `not a load average: ${JSON.stringify(first.slice(0, 32))}`);
  return Math.min(value, 1e6);
}

/**
 * MemTotal and MemAvailable of /proc/meminfo, in bytes. Kernels before 3.14 have no MemAvailable;
 * there MemFree + Buffers + Cached is the closest estimate.
 */
export function parseMeminfo(text: string): { totalBytes: number; availableBytes: number } {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m !== null) kb.set(m[1]!, Number(m[2]));
  }
  const total = kb.get('MemTotal');
  if (total === undefined) throw bad('/proc/meminfo', 'no MemTotal line');
  const available = kb.get('MemAvailable') ?? (kb.get('MemFree') ?? 0) + (kb.get('Buffers') ?? 0) + (kb.get('Cached') ?? 0);
  const bytes = (k: number) => Math.min(k * 1024, Number.MAX_SAFE_INTEGER);
  return { totalBytes: bytes(total), availableBytes: bytes(Math.min(available, total)) };
}

/** Whole seconds since boot, the first field of /proc/uptime. */
export function parseUptime(text: string): number {
  const first = text.trim().split(/\s+/)[0] ?? '';
  if (!/^\d+(\.\d+)?$/.test(first)) throw bad('/proc/uptime', `not an uptime: ${JSON.stringify(first.slice(0, 32))}`);
  return Math.floor(Number(first));
}

/**
 * Received and sent bytes per interface from /proc/net/dev, loopback left out. The kernel prints
 * `%6s:%8llu`, so a long name or a large counter leaves no blank after the colon; the name is
 * what comes before the last colon of the line's head. At most the contract's 32 interfaces
 * (docs/contract.md, "Size limits"), in the file's order.
 */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const fields = line.slice(colon + 1).trim().split(/\s+/);
    const rx = counter(fields[0]);
    const tx = counter(fields[8]);
    if (name === '' || name === 'lo' || name.length > 64 || rx === undefined || tx === undefined) continue;
    out.push({ interface: name, rxBytes: rx, txBytes: tx });
    if (out.length === LIMITS.interfaces) break;
  }
  return out;
}

/**
 * A thermal zone's `temp` (millidegrees Celsius) in degrees, one decimal; null for text that is
 * not a temperature or one outside what a sensor can mean (a driver's error value such as
 * -274000 or 0x7fffffff).
 */
export function parseThermalTemp(text: string): number | null {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) return null;
  const celsius = Number(t) / 1000;
  if (celsius < -273.15 || celsius > 1000) return null;
  return Math.round(celsius * 10) / 10;
}

/** The hottest of the zones that read a temperature; null when none did (no sensor, all errors). */
export function hottest(temps: readonly (number | null)[]): number | null {
  const valid = temps.filter((t): t is number => t !== null);
  return valid.length === 0 ? null : Math.max(...valid);
}

/**
 * The mount points of /proc/self/mountinfo (field 5, with the kernel's octal escapes such as
 * `\040` for a blank undone).
 */
export function parseMountPoints(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field !== undefined && field.startsWith('/')) out.push(field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

/** The mount point that holds `path` (absolute, normalised): the longest mount point that is a prefix of it. */
export function mountPointOf(mountPoints: readonly string[], path: string): string {
  let best = '/';
  for (const m of mountPoints) {
    const inside = m === '/' || path === m || path.startsWith(`${m}/`);
    if (inside && m.length > best.length) best = m;
  }
  return best;
}
