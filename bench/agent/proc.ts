/**
 * What a process costs, read from the kernel as `ps` and `top` read it: VmRSS from
 * /proc/<pid>/status and utime + stime from /proc/<pid>/stat, sampled over a window.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../common/exec.js';

/**
 * RSS is kept in the kernel's unit (kB of VmRSS) and printed as MB = 1000 kB, the stricter of the
 * two readings of "45 MB" (1000 kB is 1.024 MB, so a figure in these MB is the larger number).
 */
export interface Window {
  seconds: number;
  samples: number;
  minRssKb: number;
  meanRssKb: number;
  maxRssKb: number;
  /** CPU time over wall time, in percent of one core. */
  cpuPercent: number;
}

let clockTicks: number | undefined;

/** USER_HZ: the unit of /proc/<pid>/stat's times (100 on every Linux port, but asked, not assumed). */
async function ticksPerSecond(): Promise<number> {
  clockTicks ??= Number((await run('getconf CLK_TCK', ['getconf', 'CLK_TCK'])).stdout.trim());
  return clockTicks;
}

export async function rssKb(pid: number): Promise<number> {
  return (await rssParts(pid)).rss;
}

/**
 * VmRSS and its anonymous part (heap, stacks: what a leak grows) and file part (pages of the
 * node binary and libraries touched: grows as new code paths run, and is not a leak).
 */
export async function rssParts(pid: number): Promise<{ rss: number; anon: number; file: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (m === null) throw new Error(`/proc/${pid}/status has no ${name} (the process is gone?)`);
    return Number(m[1]);
  };
  return { rss: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') };
}

/** utime + stime in ticks; the fields after the command name, which is in parentheses and may hold blanks. */
export async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is the state (field 3 of proc(5)); utime and stime are fields 14 and 15.
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * CPU time of a process and of its children it has reaped (utime + stime + cutime + cstime), in
 * seconds: what a job cost in CPU whatever else the machine ran meanwhile.
 */
export async function cpuSecondsWithChildren(pid: number | 'self', onlyChildren = false): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return ((onlyChildren ? 0 : f[11]! + f[12]!) + f[13]! + f[14]!) / (await ticksPerSecond());
}

/** RSS every `everySeconds` and the CPU used, over `seconds` of wall time. */
export async function sampleWindow(pid: number, seconds: number, everySeconds = 1): Promise<Window> {
  const hz = await ticksPerSecond();
  const rss: number[] = [];
  const t0 = process.hrtime.bigint();
  const c0 = await cpuTicks(pid);
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    rss.push(await rssKb(pid));
    await sleep(Math.min(everySeconds * 1000, Math.max(0, end - Date.now())));
  }
  rss.push(await rssKb(pid));
  const c1 = await cpuTicks(pid);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  return {
    seconds: wall,
    samples: rss.length,
    minRssKb: Math.min(...rss),
    meanRssKb: rss.reduce((a, b) => a + b, 0) / rss.length,
    maxRssKb: Math.max(...rss),
    cpuPercent: ((c1 - c0) / hz / wall) * 100,
  };
}

export const MB = (kb: number) => `${(kb / 1000).toFixed(1)} MB`;
export const windowLine = (w: Window) =>
  `RSS min ${MB(w.minRssKb)}, mean ${MB(w.meanRssKb)}, max ${MB(w.maxRssKb)} (${w.samples} samples over ${w.seconds.toFixed(0)} s); CPU ${w.cpuPercent.toFixed(2)}%`;
