import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTarget, planTargetChecks, readSystemState, type SystemState, type TargetFacts } from '../../../host-tools/image/flash-target.js';

// The target checks of `ota flash` on fixture /proc and /sys trees: a host whose root is LVM on
// sda2, with swap on sda3 and a swap file on sdf1; a USB stick sdb mounted at a path with a space;
// a btrfs mount (anonymous device number, found by its source); a disk whose partition is an open
// LUKS mapping (dm-1) that nothing mounts; a free disk, a small one, an NVMe disk with a partition. planTargetChecks is pure, so the block device facts are given as stat would.

interface Dev {
  name: string;
  devno: string;
  sectors: number;
  /** The disk this partition belongs to. */
  parent?: string;
  slaves?: string[];
}

const GiB = 1 << 30;
const devs: Dev[] = [
  { name: 'sda', devno: '8:0', sectors: 500 * 2 * 1024 * 1024 },
  { name: 'sda1', devno: '8:1', sectors: 1 << 20, parent: 'sda' },
  { name: 'sda2', devno: '8:2', sectors: 400 << 20, parent: 'sda' },
  { name: 'sda3', devno: '8:3', sectors: 8 << 20, parent: 'sda' },
  { name: 'dm-0', devno: '254:0', sectors: 400 << 20, slaves: ['sda2'] },
  { name: 'sdb', devno: '8:16', sectors: 16 << 21 },
  { name: 'sdb1', devno: '8:17', sectors: 16 << 21, parent: 'sdb' },
  { name: 'sdc', devno: '8:32', sectors: 8 << 21 },
  { name: 'sdd', devno: '8:48', sectors: (16 << 20) / 512 },
  { name: 'sde', devno: '8:64', sectors: 8 << 21 },
  { name: 'sde1', devno: '8:65', sectors: 8 << 21, parent: 'sde' },
  { name: 'sdf', devno: '8:80', sectors: 8 << 21 },
  { name: 'sdf1', devno: '8:81', sectors: 8 << 21, parent: 'sdf' },
  { name: 'sdh', devno: '8:112', sectors: 8 << 21 },
  { name: 'sdh1', devno: '8:113', sectors: 8 << 21, parent: 'sdh' },
  { name: 'dm-1', devno: '254:1', sectors: 8 << 21, slaves: ['sdh1'] },
  { name: 'nvme0n1', devno: '259:0', sectors: 8 << 21 },
  { name: 'nvme0n1p1', devno: '259:1', sectors: 8 << 20, parent: 'nvme0n1' },
];

const mountinfo = [
  '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw',
  '23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw',
  '24 22 8:1 / /boot/efi rw,relatime shared:2 - vfat /dev/sda1 rw,fmask=0077',
  '40 22 8:17 / /media/usb\\040stick rw,nosuid,nodev shared:30 - vfat /dev/sdb1 rw',
  '41 22 0:45 /@data /data rw,relatime shared:31 - btrfs /dev/sde1 rw,space_cache=v2',
  '42 22 8:81 / /var rw,relatime shared:32 - ext4 /dev/sdf1 rw',
  '',
].join('\n');

const swaps = ['Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority', '/dev/sda3                               partition\t8388604\t\t0\t\t-2', '/var/swap\\040file                         file\t\t1048572\t\t0\t\t-3', ''].join('\n');

/** Writes a /sys the way the kernel lays it out: class/block/NAME -> ../../devices/.../block/DISK[/PART]. */
async function writeSys(root: string, list: Dev[]): Promise<void> {
  await mkdir(path.join(root, 'class/block'), { recursive: true });
  for (const d of list) {
    const rel = path.join('devices/virtual/block', ...(d.parent ? [d.parent, d.name] : [d.name]));
    const dir = path.join(root, rel);
    await mkdir(path.join(dir, 'slaves'), { recursive: true });
    await writeFile(path.join(dir, 'dev'), `${d.devno}\n`);
    await writeFile(path.join(dir, 'size'), `${d.sectors}\n`);
    if (d.parent) await writeFile(path.join(dir, 'partition'), '1\n');
    for (const s of d.slaves ?? []) await writeFile(path.join(dir, 'slaves', s), '');
    await symlink(path.join('../..', rel), path.join(root, 'class/block', d.name));
  }
}

let tmp: string;
let system: SystemState;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-flash-'));
  await writeSys(path.join(tmp, 'sys'), devs);
  await mkdir(path.join(tmp, 'proc/self'), { recursive: true });
  await writeFile(path.join(tmp, 'proc/self/mountinfo'), mountinfo);
  await writeFile(path.join(tmp, 'proc/swaps'), swaps);
  system = await readSystemState({ procRoot: path.join(tmp, 'proc'), sysRoot: path.join(tmp, 'sys') });
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

/** The facts describeTarget gives for /dev/NAME in the fixture. */
function disk(name: string): TargetFacts {
  const b = system.blocks.get(name);
  return { path: `/dev/${name}`, kind: 'block', name, sizeBytes: b?.sizeBytes ?? 0 };
}
const checks = (t: TargetFacts, imageSize = 64 << 20): string[] => planTargetChecks(t, system, imageSize).map((r) => r.check);

describe('readSystemState', () => {
  it('resolves mounts and swap to the leaf devices under them: LVM through slaves, btrfs by its source, a swap file by its mount', () => {
    const uses = [...system.mounts, ...system.swaps].map((u) => [u.where, u.source, u.devices]);
    expect(uses).toEqual([
      ['/', '/dev/mapper/vg-root', ['sda2']],
      ['/proc', 'proc', []],
      ['/boot/efi', '/dev/sda1', ['sda1']],
      ['/media/usb stick', '/dev/sdb1', ['sdb1']],
      ['/data', '/dev/sde1', ['sde1']],
      ['/var', '/dev/sdf1', ['sdf1']],
      ['[swap]', '/dev/sda3', ['sda3']],
      ['[swap]', '/var/swap file', ['sdf1']],
    ]);
    expect(system.blocks.get('sdb1')).toEqual({ name: 'sdb1', devno: '8:17', disk: 'sdb', sizeBytes: 16 * GiB, slaves: [] });
    expect(system.blocks.get('sdd')?.sizeBytes).toBe(16 << 20);
  });
});

describe('planTargetChecks', () => {
  it('lets a free disk big enough for the image through', () => {
    expect(planTargetChecks(disk('sdc'), system, 64 << 20)).toEqual([]);
    expect(checks(disk('nvme0n1'))).toEqual([]);
  });

  it('refuses a disk with a mounted partition, naming the mount and how to unmount it', () => {
    const [r, ...rest] = planTargetChecks(disk('sdb'), system, 64 << 20);
    expect(rest).toEqual([]);
    expect(r).toEqual({ check: 'in-use', message: '/dev/sdb is in use: /dev/sdb1 on /media/usb stick', hint: 'unmount it first (umount /media/usb stick), or pass --force' });
    expect(checks(disk('sdb1'))).toEqual(['in-use']);
    expect(checks(disk('sde'))).toEqual(['in-use']);
  });

  it('refuses a disk held by device-mapper (an open LUKS mapping, an LVM group) though nothing is mounted', () => {
    expect(planTargetChecks(disk('sdh'), system, 1)).toEqual([{ check: 'in-use', message: '/dev/sdh is in use: sdh1 is held by dm-1', hint: 'close what holds it first (`lsblk /dev/sdh` shows it), or pass --force' }]);
  });

  it("refuses the host's own disk (root on LVM on sda2, /boot/efi, swap on sda3), even a partition of it that is not mounted", () => {
    expect(checks(disk('sda'))).toEqual(['in-use', 'host-disk']);
    const [r] = planTargetChecks(disk('sda3'), system, 64 << 20).filter((x) => x.check === 'host-disk');
    expect(r?.message).toBe('/dev/sda3 is on sda, the disk this system runs from (/ is /dev/mapper/vg-root, /boot/efi is /dev/sda1, [swap] is /dev/sda3)');
    expect(checks(disk('sda3'))).toEqual(['in-use', 'host-disk']);
    // sdf holds a swap file (under /var), so it is the host's too, though / is elsewhere.
    expect(checks(disk('sdf'))).toEqual(['in-use', 'host-disk']);
  });

  it('refuses a device smaller than the image, and not one that fits exactly', () => {
    const [r] = planTargetChecks(disk('sdd'), system, 64 << 20);
    expect(r).toMatchObject({ check: 'too-small', message: '/dev/sdd holds 16777216 bytes (16.0 MiB) but the image is 67108864 bytes (64.0 MiB)' });
    expect(checks(disk('sdd'), 16 << 20)).toEqual([]);
  });

  it('refuses a missing target, something that is not a disk or file, and a block device /sys does not know', () => {
    expect(checks({ path: '/dev/sdz', kind: 'missing' })).toEqual(['missing']);
    expect(checks({ path: '/dev/ttyS0', kind: 'other' })).toEqual(['not-a-disk']);
    expect(checks({ path: '/dev/odd', kind: 'block', sizeBytes: GiB })).toEqual(['unknown-device']);
    expect(checks({ path: '/dev/odd', kind: 'block', name: 'sdq', sizeBytes: 1 }, 2)).toEqual(['unknown-device', 'too-small']);
  });

  it('lets a regular file through whatever its size: it grows', () => {
    expect(checks({ path: 'out.img', kind: 'file' })).toEqual([]);
  });

  it('refuses every block device when /sys has no block devices at all', async () => {
    const bare = await readSystemState({ procRoot: path.join(tmp, 'proc'), sysRoot: path.join(tmp, 'nosys') });
    expect(planTargetChecks(disk('sdc'), bare, 1).map((r) => r.check)).toEqual(['unknown-device']);
  });
});

describe('describeTarget', () => {
  it('tells a missing path, a regular file and a directory apart', async () => {
    const file = path.join(tmp, 'out.img');
    await writeFile(file, '');
    expect(await describeTarget(path.join(tmp, 'nope'), system)).toEqual({ path: path.join(tmp, 'nope'), kind: 'missing' });
    expect((await describeTarget(file, system)).kind).toBe('file');
    expect((await describeTarget(tmp, system)).kind).toBe('other');
  });
});
