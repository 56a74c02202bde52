import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { parseDocument } from '../../../contract/index.js';
import { collectTelemetry } from '../../../device-agent/daemon/telemetry.js';
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
} from '../../../device-agent/daemon/telemetry-parse.js';

const STAT = `cpu  100 5 50 800 40 3 2 0 7 0
cpu0 50 2 25 400 20 1 1 0 3 0
intr 12345 0 0
ctxt 999
`;
const STAT_LATER = `cpu  160 5 70 900 60 3 2 0 9 0
`;
const MEMINFO = `MemTotal:        4030464 kB
MemFree:          100000 kB
MemAvailable:    3145728 kB
Buffers:           20000 kB
Cached:           500000 kB
Hugepagesize:       2048 kB
`;
// A kernel before 3.14: no MemAvailable line.
const MEMINFO_OLD = `MemTotal:        1000 kB
MemFree:          100 kB
Buffers:           20 kB
Cached:           300 kB
`;
// Long names and counters wider than the kernel's %8llu leave no blank after the colon.
const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 443583683  113249    0    0    0     0          0         0 443583683  113249    0    0    0     0       0          0
  eth0: 123456789  10    0    0    0     0          0         0  9876543  5    0    0    0     0       0          0
enx00e04c68abcd:12345678901234 10 0 0 0 0 0 0 42 5 0 0 0 0 0 0
wlp0s20f3.veryl: 7 1 0 0 0 0 0 0 8 1 0 0 0 0 0 0
`;

describe('telemetry parsers (fixture text)', () => {
  it('CPU: busy and total jiffies from the aggregate line, usage between two samples', () => {
    const a = parseCpuStat(STAT);
    // user nice system idle iowait irq softirq steal = 100+5+50+800+40+3+2+0; guest left out
    expect(a).toEqual({ total: 1000, busy: 160 });
    const b = parseCpuStat(STAT_LATER);
    expect(b).toEqual({ total: 1200, busy: 240 });
    expect(cpuUsagePercent(a, b)).toBe(40);
    expect(cpuUsagePercent(null, a)).toBe(16);
    // counters that went backwards are not negative usage
    expect(cpuUsagePercent(b, a)).toBe(0);
    expect(() => parseCpuStat('intr 1 2 3\n')).toThrow(/no aggregate "cpu" line/);
    expect(() => parseCpuStat('cpu  1 2 x 4\n')).toThrow(/\/proc\/stat/);
  });

  it('load average, uptime: the first field; anything else is refused', () => {
    expect(parseLoadAverage('0.42 0.30 0.10 1/123 4567\n')).toBe(0.42);
    expect(parseUptime('86400.73 170000.10\n')).toBe(86400);
    expect(() => parseLoadAverage('')).toThrow(/loadavg/);
    expect(() => parseUptime('-1 2')).toThrow(/uptime/);
  });

  it('memory: MemTotal and MemAvailable in bytes; an old kernel estimates available', () => {
    expect(parseMeminfo(MEMINFO)).toEqual({ totalBytes: 4030464 * 1024, availableBytes: 3145728 * 1024 });
    expect(parseMeminfo(MEMINFO_OLD)).toEqual({ totalBytes: 1000 * 1024, availableBytes: 420 * 1024 });
    expect(() => parseMeminfo('MemFree: 1 kB\n')).toThrow(/MemTotal/);
  });

  it('network: every interface but lo, long names and glued counters included', () => {
    expect(parseNetDev(NET_DEV)).toEqual([
      { interface: 'eth0', rxBytes: 123456789, txBytes: 9876543 },
      { interface: 'enx00e04c68abcd', rxBytes: 12345678901234, txBytes: 42 },
      { interface: 'wlp0s20f3.veryl', rxBytes: 7, txBytes: 8 },
    ]);
  });

  it('network: at most 32 interfaces', () => {
    const many = Array.from({ length: 40 }, (_v, i) => `veth${i}: 1 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0`).join('\n');
    const parsed = parseNetDev(many);
    expect(parsed).toHaveLength(32);
    expect(parsed[31]!.interface).toBe('veth31');
  });

  it('thermal: millidegrees to degrees; error values and text are no temperature', () => {
    expect(parseThermalTemp('48312\n')).toBe(48.3);
    expect(parseThermalTemp('-5000')).toBe(-5);
    expect(parseThermalTemp('-274000')).toBeNull();
    expect(parseThermalTemp(String(0x7fffffff))).toBeNull();
    expect(parseThermalTemp('')).toBeNull();
    expect(parseThermalTemp('N/A')).toBeNull();
    expect(hottest([null, 41.5, 63, null])).toBe(63);
    expect(hottest([])).toBeNull();
    expect(hottest([null])).toBeNull();
  });

  it('mounts: escaped mount points, the longest prefix holds a path', () => {
    const points = parseMountPoints(`22 27 0:21 / /proc rw - proc proc rw
27 1 8:1 / / rw - ext4 /dev/sda1 rw
30 27 8:2 / /var/lib/ota\\040agent rw - ext4 /dev/sda2 rw
31 27 8:3 / /sysroot rw - ext4 /dev/sda3 rw
`);
    expect(points).toEqual(['/proc', '/', '/var/lib/ota agent', '/sysroot']);
    expect(mountPointOf(points, '/var/lib/ota agent/state')).toBe('/var/lib/ota agent');
    expect(mountPointOf(points, '/sysroot')).toBe('/sysroot');
    expect(mountPointOf(points, '/sysrootx')).toBe('/');
    expect(mountPointOf([], '/anything')).toBe('/');
  });
});

describe('collectTelemetry', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  async function fixtureSystem(zones: Record<string, string | null>): Promise<{ proc: string; sys: string }> {
    const root = await mkdtemp(join(tmpdir(), 'ota-telemetry-'));
    dirs.push(root);
    const proc = join(root, 'proc');
    const sys = join(root, 'sys');
    await mkdir(join(proc, 'net'), { recursive: true });
    await mkdir(join(proc, 'self'), { recursive: true });
    await writeFile(join(proc, 'stat'), STAT_LATER);
    await writeFile(join(proc, 'loadavg'), '1.50 1.00 0.50 2/300 999\n');
    await writeFile(join(proc, 'meminfo'), MEMINFO);
    await writeFile(join(proc, 'uptime'), '3600.5 7000.1\n');
    await writeFile(join(proc, 'net/dev'), NET_DEV);
    await writeFile(join(proc, 'self/mountinfo'), `27 1 8:1 / / rw - ext4 /dev/sda1 rw\n`);
    for (const [zone, temp] of Object.entries(zones)) {
      await mkdir(join(sys, 'class/thermal', zone, temp === null ? 'temp' : ''), { recursive: true });
      // null: `temp` is a directory, so reading it fails like a sensor that returns EIO
      if (temp !== null) await writeFile(join(sys, 'class/thermal', zone, 'temp'), temp);
    }
    return { proc, sys };
  }

  it('builds a Telemetry document the contract accepts, from a fixture /proc and /sys', async () => {
    const system = await fixtureSystem({ thermal_zone0: '41000\n', thermal_zone1: null, thermal_zone2: '55500\n', cooling_device0: '1' });
    const state = dirs[0]!;
    const { telemetry, cpuSample } = await collectTelemetry({
      device: 'gw-1',
      mounts: [state, join(state, 'proc')],
      previousCpu: parseCpuStat(STAT),
      system: { ...system, now: () => Date.parse('2026-03-01T12:00:00Z') },
    });
    expect(parseDocument('Telemetry', telemetry)).toEqual(telemetry);
    expect(cpuSample).toEqual({ total: 1200, busy: 240 });
    expect(telemetry.cpu).toEqual({ usagePercent: 40, loadAverage1m: 1.5 });
    expect(telemetry.temperatureCelsius).toBe(55.5);
    expect(telemetry.uptimeSeconds).toBe(3600);
    expect(telemetry.time).toBe('2026-03-01T12:00:00.000Z');
    expect(telemetry.network.map((n) => n.interface)).toEqual(['eth0', 'enx00e04c68abcd', 'wlp0s20f3.veryl']);
    // two paths on the one mount of the fixture's mountinfo: reported once
    expect(telemetry.disk).toHaveLength(1);
    expect(telemetry.disk[0]!.mount).toBe('/');
    expect(telemetry.disk[0]!.totalBytes).toBeGreaterThan(0);
  });

  it('no thermal zone, or only failing ones: temperature null', async () => {
    const cases: Record<string, string | null>[] = [{}, { thermal_zone0: null }, { thermal_zone0: 'garbage' }];
    for (const zones of cases) {
      const system = await fixtureSystem(zones);
      const { telemetry } = await collectTelemetry({ device: 'gw-1', mounts: [], previousCpu: null, system });
      expect(telemetry.temperatureCelsius).toBeNull();
      expect(telemetry.disk).toEqual([]);
    }
  });

  it('a missing /proc file is an OtaError naming it', async () => {
    const system = await fixtureSystem({});
    await rm(join(system.proc, 'meminfo'));
    const err = await collectTelemetry({ device: 'gw-1', mounts: [], previousCpu: null, system }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OtaError);
    expect((err as OtaError).message).toMatch(/meminfo/);
  });

  it('reads this machine: the document passes the contract schema', async () => {
    const first = await collectTelemetry({ device: 'this-host', mounts: ['/', tmpdir()], previousCpu: null });
    const second = await collectTelemetry({ device: 'this-host', mounts: ['/', tmpdir()], previousCpu: first.cpuSample });
    for (const { telemetry } of [first, second]) expect(parseDocument('Telemetry', JSON.stringify(telemetry))).toEqual(telemetry);
    expect(second.telemetry.memory.totalBytes).toBeGreaterThan(0);
    expect(second.telemetry.uptimeSeconds).toBeGreaterThan(0);
    expect(second.telemetry.disk.length).toBeGreaterThan(0);
    expect(second.telemetry.network.some((n) => n.interface === 'lo')).toBe(false);
  });
});
