import { describe, expect, it } from 'vitest';
import { planChecks, type DirEntry, type Listing } from '../../../device-agent/health/plan.js';
import { memAvailableBytes } from '../../../device-agent/health/checks.js';
import { BUILT_IN_DEFAULTS, healthConfigSchema } from '../../../device-agent/config/schema.js';

const exe = (name: string): DirEntry => ({ name, file: true, executable: true });
const plain = (name: string): DirEntry => ({ name, file: true, executable: false });

describe('planChecks', () => {
  const config = healthConfigSchema.parse({
    ...BUILT_IN_DEFAULTS.health,
    scriptRoots: ['/h', '/g'],
    requiredUnits: ['sshd.service'],
    wantedUnits: ['chronyd.service'],
    minFreeDiskBytes: 10,
    minAvailableMemoryBytes: 5,
  });

  it('lists units, then scripts root by root and folder by folder in byte order, then disk and memory', () => {
    const listings = new Map<string, Listing>([
      ['/h/required.d', [exe('20-b'), exe('10-a'), exe('B-upper')]],
      ['/g/required.d', [plain('01-net.sh')]],
      ['/h/wanted.d', [exe('w')]],
      ['/g/wanted.d', []],
    ]);
    const plan = planChecks(config, listings, '/sysroot');
    expect(plan.map((c) => [c.name, c.level])).toEqual([
      ['unit:sshd.service', 'required'],
      ['unit:chronyd.service', 'wanted'],
      ['/h/required.d/10-a', 'required'],
      ['/h/required.d/20-b', 'required'],
      ['/h/required.d/B-upper', 'required'],
      ['/h/wanted.d/w', 'wanted'],
      ['/g/required.d/01-net.sh', 'required'],
      ['disk:/sysroot', 'required'],
      ['memory', 'required'],
    ]);
    expect(plan.find((c) => c.name === '/g/required.d/01-net.sh')).toMatchObject({ runnable: true, argv: ['bash', '/g/required.d/01-net.sh'] });
    expect(plan.find((c) => c.name === '/h/wanted.d/w')).toMatchObject({ runnable: true, argv: ['/h/wanted.d/w'] });
  });

  it('skips leftovers and folders, fails a file that cannot run, and an unreadable folder', () => {
    const listings = new Map<string, Listing>([
      ['/h/required.d', [exe('.hidden'), exe('check~'), exe('check.dpkg-old'), exe('check.disabled'), { name: 'sub', file: false, executable: true }, plain('forgot-chmod')]],
      ['/h/wanted.d', { error: 'EACCES: permission denied' }],
    ]);
    const scripts = planChecks(config, listings, '/').filter((c) => c.kind === 'script');
    expect(scripts).toEqual([
      { kind: 'script', name: '/h/required.d/forgot-chmod', level: 'required', runnable: false, why: expect.stringContaining('not executable') },
      { kind: 'script', name: '/h/wanted.d', level: 'wanted', runnable: false, why: 'cannot read the folder: EACCES: permission denied' },
    ]);
  });

  it('makes no disk or memory check for a threshold of 0', () => {
    const plan = planChecks({ ...config, minFreeDiskBytes: 0, minAvailableMemoryBytes: 0 }, new Map(), '/');
    expect(plan.map((c) => c.kind)).toEqual(['unit', 'unit']);
  });
});

describe('memAvailableBytes', () => {
  it('reads MemAvailable in KiB, and says when the kernel has none', () => {
    expect(memAvailableBytes('MemTotal:       16 kB\nMemFree:   2 kB\nMemAvailable:    1234 kB\n')).toBe(1234 * 1024);
    expect(memAvailableBytes('MemTotal:       16 kB\nMemFree:   2 kB\n')).toBeNull();
  });
});
