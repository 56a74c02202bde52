/**
 * The device's measurements as the contract's Telemetry document, read from /proc, /sys and
 * statfs with node's own modules (docs/agent.md, "Telemetry"): the daemon that sends them must
 * stay small, and a library for this costs a third of its memory budget.
 */
import { readdir, readFile, statfs } from '../../common/lean-fs.js';
import { join, resolve } from 'node:path';
import type { Telemetry } from '../../contract/documents/telemetry.js';
import { API_VERSION, LIMITS } from '../../contract/limits.js';
import { OtaError } from '../../common/errors.js';
import { isoTime } from '../../common/iso-time.js';
import {
  cpuUsagePercent,
  hottest,
  mountPointOf,
  parseCpuStat,
  parseLoadAverage,
  parseMeminfo,
  parseMountPoints,
  parseNetDev,
  parseThermalTemp,
  parseUptime,
  type CpuSample,
} from './telemetry-parse.js';

export type { CpuSample } from './telemetry-parse.js';

/** Thermal zones read per sample: enough for any board, bounded for one with a sensor per core. */
const MAX_THERMAL_ZONES = 16;

export interface TelemetryOptions {
  device: string;
  /** Paths whose file systems are reported (the sysroot, the state directory); one entry per mount. */
  mounts: readonly string[];
  /** The CPU sample of the last collection, so usage covers the interval between them; null: since boot. */
  previousCpu: CpuSample | null;
  /** Where /proc and /sys are (tests point them at fixture trees) and the clock. */
  system?: { proc?: string; sys?: string; now?: () => number };
}

/**
 * Reads one Telemetry document, and the CPU sample to pass as `previousCpu` next time.
 *
 * @throws OtaError `ERR_OTA_IO` when /proc/stat, loadavg, meminfo, uptime or net/dev cannot be read
 *   or parsed; a missing or failing thermal zone gives a null temperature, a mount that statfs
 *   cannot read is left out.
 * @example
 * let cpu = null;
 * const { telemetry, cpuSample } = await collectTelemetry({ device: 'gw-1', mounts: ['/sysroot', stateDir], previousCpu: cpu });
 * cpu = cpuSample;
 */
export async function collectTelemetry(options: TelemetryOptions): Promise<{ telemetry: Telemetry; cpuSample: CpuSample }> {
  const proc = options.system?.proc ?? '/proc';
  const sys = options.system?.sys ?? '/sys';
  const [stat, loadavg, meminfo, uptime, netDev] = await Promise.all(
    ['stat', 'loadavg', 'meminfo', 'uptime', 'net/dev'].map((f) => procFile(proc, f)),
  );
  const cpuSample = parsed('stat', () => parseCpuStat(stat!));
  const telemetry: Telemetry = {
    apiVersion: API_VERSION,
    kind: 'Telemetry',
    device: options.device,
    // Not a Date: isoTime says why.
    time: isoTime(options.system?.now?.() ?? Date.now()),
    cpu: { usagePercent: cpuUsagePercent(options.previousCpu, cpuSample), loadAverage1m: parsed('loadavg', () => parseLoadAverage(loadavg!)) },
    memory: parsed('meminfo', () => parseMeminfo(meminfo!)),
    disk: await disks(proc, options.mounts),
    temperatureCelsius: await temperature(sys),
    uptimeSeconds: parsed('uptime', () => parseUptime(uptime!)),
    network: parsed('net/dev', () => parseNetDev(netDev!)),
  };
  return { telemetry, cpuSample };
}

async function procFile(proc: string, name: string): Promise<string> {
  const path = join(proc, name);
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new OtaError('ERR_OTA_IO', `telemetry: cannot read ${path}: ${(e as Error).message}`, {
      hint: 'the agent reads the kernel\'s /proc; run it where /proc is mounted',
      cause: e,
    });
  }
}

function parsed<T>(name: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new OtaError('ERR_OTA_IO', `telemetry: ${(e as Error).message} (/proc/${name})`, { hint: 'this kernel writes the file in a layout the agent does not know; report it with the file attached', cause: e });
  }
}

async function disks(proc: string, paths: readonly string[]): Promise<Telemetry['disk']> {
  const points = parseMountPoints(await readFile(join(proc, 'self/mountinfo'), 'utf8').catch(() => ''));
  const seen = new Set<string>();
  const out: Telemetry['disk'] = [];
  for (const path of paths) {
    const absolute = resolve(path);
    const mount = mountPointOf(points, absolute);
    if (seen.has(mount) || out.length === LIMITS.disks) continue;
    seen.add(mount);
    const fs = await statfs(absolute).catch(() => null);
    if (fs === null || mount.length > 256) continue;
    const bytes = (blocks: number) => Math.min(blocks * fs.bsize, Number.MAX_SAFE_INTEGER);
    out.push({ mount, totalBytes: bytes(fs.blocks), availableBytes: bytes(fs.bavail) });
  }
  return out;
}

async function temperature(sys: string): Promise<number | null> {
  const dir = join(sys, 'class/thermal');
  const names = await readdir(dir).catch(() => [] as string[]);
  const zones = names
    .filter((n) => /^thermal_zone\d+$/.test(n))
    .sort((a, b) => Number(a.slice(12)) - Number(b.slice(12)))
    .slice(0, MAX_THERMAL_ZONES);
  // A zone whose driver fails (EIO, ENODATA on a sensor that is off) reads as no temperature.
  const temps = await Promise.all(zones.map((z) => readFile(join(dir, z, 'temp'), 'utf8').then(parseThermalTemp, () => null)));
  return hottest(temps);
}
