import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ADDED_IN_1_1, demoManifest, downloadLine, lockHighlights, netDebPlan, StageClock } from './demo-story.js';

const EXAMPLE = readFileSync(join(import.meta.dirname, '../../examples/gateway/image.yaml'), 'utf8');

describe("scripts/demo's story (the parts that need no qemu)", () => {
  it('appends the local debs to the example manifest, and 1.1 adds one package to its list', () => {
    const debs = ['debs/ota-agent_0.1.0_arm64.deb', 'debs/ota-demo-net_1.0_all.deb'];
    const a = parse(demoManifest(EXAMPLE, debs)) as { name: string; packages: string[]; debs: string[] };
    const b = parse(demoManifest(EXAMPLE, debs, [ADDED_IN_1_1])) as typeof a;
    const example = parse(EXAMPLE) as typeof a;
    expect(a).toEqual({ ...example, debs });
    expect(b).toEqual({ ...example, packages: [...example.packages, ADDED_IN_1_1], debs });
    expect(example.packages).not.toContain(ADDED_IN_1_1);
  });

  it('refuses a manifest it cannot extend rather than write a wrong one', () => {
    expect(() => demoManifest('name: x\ndebs: [a.deb]\n', ['b.deb'])).toThrow(/already lists debs/);
    expect(() => demoManifest('name: x\npackages: [a]\n', [], ['less'])).toThrow(/no block `packages:` list/);
  });

  it("plans the network package from the update proof's: systemd-networkd enabled, a static address", () => {
    const p = netDebPlan();
    expect(p.control).toMatch(/^Package: ota-demo-net\nVersion: 1\.0\nArchitecture: all\n/);
    expect(p.control).toMatch(/\nDepends: systemd\n/);
    expect(p.control.endsWith('\n')).toBe(true);
    expect(Object.values(p.files).join('')).toMatch(/Address=10\.0\.2\.15\/24/);
    expect(p.symlinks['/usr/lib/systemd/system/multi-user.target.wants/systemd-networkd.service']).toBe('../systemd-networkd.service');
  });

  it('times each stage, numbers their headers with the time since the start, and sums them up in one line', async () => {
    let now = 1_000_000;
    const lines: string[] = [];
    const clock = new StageClock((l) => lines.push(l), () => now);
    await clock.stage('lock', 'ota lock', async () => {
      now += 40_000;
    });
    await expect(clock.stage('build', 'ota build', async () => {
      now += 125_500;
      throw new Error('stage 2 failed');
    })).rejects.toThrow('stage 2 failed');
    expect(lines.filter(Boolean)).toEqual(['== [0.0s] 1. lock: ota lock', '== [40.0s] 2. build: ota build']);
    expect(clock.summary('FAILED')).toBe('demo: FAILED in 2m45.5s (lock 40.0s, build 2m05.5s)');
  });

  it('weighs the download against the whole commit and names the delta it came by', () => {
    const release = { version: '1.1', fullPullBytes: 80_000_000, deltas: [{ fromVersion: '1.0', fromCommit: 'a'.repeat(64), bytes: 150_000 }] };
    expect(downloadLine(release, '1.0', { wire: 200_000, reported: 150_000 })).toBe(
      '1.1: the device downloaded 200.0 kB at the wire (150.0 kB of objects as it reported) against 80.0 MB for the whole commit (0.25% of it); the static delta from 1.0 is 150.0 kB',
    );
    expect(downloadLine({ ...release, deltas: [] }, '1.0', { wire: 1, reported: 1 })).toMatch(/no static delta from 1\.0 was published$/);
    expect(downloadLine({ ...release, fullPullBytes: 311_100_000 }, '1.0', { wire: 133_100, reported: 61_000 })).toContain('(0.043% of it)');
    expect(downloadLine({ ...release, fullPullBytes: 1_000_000 }, '1.0', { wire: 400_000, reported: 1 })).toContain('(40.0% of it)');
  });

  it("shows a lockfile's header, its package count and its local debs", () => {
    const lock = [
      'Lock-Version: 1\nLocal-Debs: debs/a.deb',
      'Package: libc6\nVersion: 2.36\nOrigin-Uri: http://deb.example/debian\nSHA256: 11',
      'Package: ota-agent\nVersion: 0.1.0\nFilename: debs/a.deb\nOrigin-Uri: local\nSHA256: 22',
      '',
    ].join('\n\n');
    expect(lockHighlights(lock)).toEqual({ header: ['Lock-Version: 1', 'Local-Debs: debs/a.deb'], packages: 2, local: [{ name: 'ota-agent', version: '0.1.0', sha256: '22' }] });
  });
});
