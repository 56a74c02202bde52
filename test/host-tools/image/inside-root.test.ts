import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveInside } from '../../../host-tools/image/inside-root.js';

// A deployed image's links are followed inside the image, as a chroot would: a package's link to
// an absolute path names the image's file, never the build host's. Real symlinks in a temp dir.

let root: string;
let outside: string;

beforeAll(async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'ota-inside-'));
  root = join(tmp, 'root');
  outside = join(tmp, 'outside');
  await mkdir(join(root, 'usr/lib/u-boot'), { recursive: true });
  await mkdir(join(root, 'etc'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(root, 'etc/shadow'), 'image\n');
  await writeFile(join(outside, 'secret'), 'host\n');
  await writeFile(join(root, 'usr/lib/u-boot/real.bin'), 'u-boot\n');
  await symlink('/etc/shadow', join(root, 'usr/lib/u-boot/abs.bin'));
  await symlink('real.bin', join(root, 'usr/lib/u-boot/rel.bin'));
  await symlink('../../../../../../outside/secret', join(root, 'usr/lib/u-boot/up.bin'));
  await symlink(outside, join(root, 'usr/lib/hostdir'));
  await symlink('loop', join(root, 'usr/lib/loop'));
});

describe('resolveInside', () => {
  it('follows relative and absolute links inside the root', () => {
    expect(resolveInside(root, '/usr/lib/u-boot/rel.bin')).toBe(join(root, 'usr/lib/u-boot/real.bin'));
    expect(resolveInside(root, '/usr/lib/u-boot/abs.bin')).toBe(join(root, 'etc/shadow'));
  });

  it('never leaves the root: ".." stops at it, and a link to a host path is read inside the root', () => {
    expect(resolveInside(root, '/usr/lib/u-boot/up.bin')).toBeUndefined(); // root/outside/secret does not exist
    expect(resolveInside(root, '/usr/lib/hostdir/secret')).toBeUndefined();
    expect(resolveInside(root, '../outside/secret')).toBeUndefined();
    expect(resolveInside(root, '../../etc/shadow')).toBe(join(root, 'etc/shadow'));
  });

  it('is undefined for a missing path and a link loop', () => {
    expect(resolveInside(root, '/usr/lib/u-boot/missing.bin')).toBeUndefined();
    expect(resolveInside(root, '/usr/lib/loop')).toBeUndefined();
  });
});
