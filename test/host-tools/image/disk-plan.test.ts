import { describe, expect, it } from 'vitest';
import { parseBoard } from '../../../host-tools/board/load.js';
import { defaultRootBytes, planDisk } from '../../../host-tools/image/disk-plan.js';
import { otaRejection } from '../../helpers/errors.js';

const MIB = 1024 * 1024;
const board = (table: 'gpt' | 'mbr') =>
  parseBoard(
    `name: t
arch: arm64
description: t
kernel: { packages: [k], console: ttyS0 }
bootloader: { type: uboot, packages: [u], env: { kind: text-file, partition: boot, path: ota.env }, device: { interface: mmc, boot: "0:1", root: "0:2" } }
disk: { table: ${table}, partitions: [{ label: boot, fs: vfat, size: 64MiB, role: boot }, { label: root, fs: ext4, size: rest, role: root }] }
`,
    'board.yaml',
  );

describe('planDisk', () => {
  it('aligns partitions to 1 MiB and gives the root what is left, before the GPT backup', () => {
    const p = planDisk(board('gpt'), { totalBytes: 1024 * MIB });
    expect(p.partitions.map((x) => [x.label, x.offsetBytes / MIB, x.sizeBytes / MIB])).toEqual([['boot', 1, 64], ['root', 65, 958]]);
    expect(p.sfdiskScript).toBe('label: gpt\nunit: sectors\n\nstart=2048, size=131072, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="boot"\nstart=133120, size=1961984, type=linux, name="root"\n');
  });

  it('writes MBR ids and marks the boot partition bootable', () => {
    expect(planDisk(board('mbr'), { totalBytes: 1024 * MIB }).sfdiskScript).toContain('start=2048, size=131072, type=c, bootable\nstart=133120, size=1961984, type=83\n');
  });

  it('sizes the disk from the tree when no size is given: room for an update beside it', () => {
    const p = planDisk(board('gpt'), { treeBytes: 700 * MIB });
    expect(p.partitions[1]!.sizeBytes).toBe(defaultRootBytes(700 * MIB));
    expect(p.partitions[1]!.sizeBytes).toBeGreaterThan(2 * 700 * MIB);
  });

  it('refuses a size that cannot hold the partitions or the tree, saying what would', async () => {
    const e = await otaRejection(Promise.resolve().then(() => planDisk(board('gpt'), { totalBytes: 60 * MIB })));
    expect(e.message).toContain('a 60 MiB disk cannot hold t');
    expect(e.hint).toMatch(/at least \d+ MiB/);
    const tree = await otaRejection(Promise.resolve().then(() => planDisk(board('gpt'), { totalBytes: 300 * MIB, treeBytes: 400 * MIB })));
    expect(tree.message).toContain('too small for a 400 MiB tree');
  });
});
