import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseOstreeArg, resolveInside } from '../../../device-agent/agent/booted.js';

describe('parseOstreeArg', () => {
  it('takes the first ostree= argument, anywhere on the line', () => {
    expect(parseOstreeArg('root=LABEL=root ostree=/ostree/boot.1/debian/ab/0 quiet ostree=/other\n')).toBe('/ostree/boot.1/debian/ab/0');
    expect(parseOstreeArg('ostree=/ostree/boot.0/debian/cd/1')).toBe('/ostree/boot.0/debian/cd/1');
  });
  it('drops quotes around the whole argument, as the kernel does', () => {
    expect(parseOstreeArg('console=ttyS0 "ostree=/ostree/boot.0/debian/cd/1"')).toBe('/ostree/boot.0/debian/cd/1');
  });
  it('is null without one (a system OSTree did not boot), and ignores look-alikes', () => {
    expect(parseOstreeArg('root=/dev/sda1 ro quiet')).toBeNull();
    expect(parseOstreeArg('rd.ostree=/x myostree=/y')).toBeNull();
    expect(parseOstreeArg('')).toBeNull();
  });
});

describe('resolveInside, on real symlinks in a temp dir', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'ota-booted-'));
    await mkdir(join(root, 'ostree/deploy/debian/deploy/x.0'), { recursive: true });
    await mkdir(join(root, 'ostree/boot.1.1/debian/ab'), { recursive: true });
    await symlink('boot.1.1', join(root, 'ostree/boot.1'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('follows relative links, as ostree writes them', async () => {
    await symlink('../../../deploy/debian/deploy/x.0', join(root, 'ostree/boot.1.1/debian/ab/0'));
    expect(await resolveInside(root, '/ostree/boot.1/debian/ab/0')).toBe('ostree/deploy/debian/deploy/x.0');
  });
  it('starts an absolute target again at the root, never at the host /', async () => {
    await symlink('/ostree/deploy/debian/deploy/x.0', join(root, 'ostree/boot.1.1/debian/ab/0'));
    expect(await resolveInside(root, '/ostree/boot.1/debian/ab/0')).toBe('ostree/deploy/debian/deploy/x.0');
  });
  it('never climbs above the root with ..', async () => {
    await symlink('../../../../../../../../ostree/deploy/debian/deploy/x.0', join(root, 'ostree/boot.1.1/debian/ab/0'));
    expect(await resolveInside(root, '/ostree/boot.1/debian/ab/0')).toBe('ostree/deploy/debian/deploy/x.0');
  });
  it('refuses a symlink loop', async () => {
    await symlink('1', join(root, 'ostree/boot.1.1/debian/ab/0'));
    await symlink('0', join(root, 'ostree/boot.1.1/debian/ab/1'));
    await expect(resolveInside(root, '/ostree/boot.1/debian/ab/0')).rejects.toThrow(/too many symlinks/);
  });
});
