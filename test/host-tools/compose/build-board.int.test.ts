import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type BuildResult } from '../../../host-tools/compose/build.js';
import { catFile, Repo } from '../../../node-ostree/index.js';
import { fixtureImage, type FixtureImage } from '../../helpers/build-harness.js';
import { BOARD_YAML, boardPackages } from '../../helpers/board-fixture.js';
import { otaRejection } from '../../helpers/errors.js';
import { listInitramfs } from '../../../host-tools/compose/initramfs.js';

// A board's packages are built on top of the image's: fixture kernel and bootloader packages,
// and a stand-in `dracut` (a fake at the process boundary: a script that records how it was
// called and writes a small cpio initramfs of the modules it finds) so the test runs in seconds;
// versions 9999 win over the host archive's; the real dracut runs in build-real.int.test.ts.
describe('ota build with a board', () => {
  let root: string;
  let fx: FixtureImage;
  let boardsDir: string;
  let first: BuildResult;
  /** The board ref after the kernel bump. */
  let before = '';
  const events: string[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ota-build-board-'));
    fx = await fixtureImage(join(root, 'img'), 'amd64', [{ name: 'fx-app', version: '1', arch: 'amd64', files: { '/usr/bin/fx-app': '#!/bin/sh\n' } }, ...boardPackages('amd64', '6.1.0-1')]);
    boardsDir = join(root, 'boards');
    await mkdir(join(boardsDir, 'fxboard'), { recursive: true });
    await writeFile(join(boardsDir, 'fxboard/board.yaml'), BOARD_YAML('amd64'));
    await fx.writeManifest(['fx-app'], 'board: fxboard');
    first = await build({ inputs: [fx.manifest], repoPath: join(fx.dir, 'repo'), cacheDir: fx.cacheDir, env: fx.env, boardsDir, onEvent: (e) => events.push(e.message) });
  }, 300_000);
  afterAll(async () => {
    await fx?.server.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("puts the board's kernel and a dracut initramfs (with the ostree module, built once) on the image", async () => {
    const img = first.images[0]!;
    expect(img.ref).toBe('fx/amd64/fxboard');
    expect(img.kernels).toEqual(['6.1.0-1']);
    const repo = await Repo.open(join(fx.dir, 'repo'));
    try {
      const cat = async (p: string) => (await catFile(repo, img.ref, p)).toString();
      expect(await cat('/usr/lib/modules/6.1.0-1/vmlinuz')).toBe('kernel 6.1.0-1\n');
      const initramfs = listInitramfs(await catFile(repo, img.ref, '/usr/lib/modules/6.1.0-1/initramfs.img'), 'initramfs.img');
      expect(initramfs).toEqual(['ota-fixture', 'usr/lib/ostree/ostree-prepare-root', 'usr/lib/modules/6.1.0-1/kernel/fs/ext4/ext4.ko']);
      // the kernel's own hooks were told not to build one; dracut ran once, not host-only, with ostree
      expect(await cat('/usr/share/factory/var/lib/fx-linux-postinst')).toBe('INITRD=No\n');
      const calls = (await cat('/usr/share/factory/var/lib/dracut-calls')).trim().split('\n');
      expect(calls).toHaveLength(1);
      expect(calls[0]).toContain('--no-hostonly --add ostree');
      // modules read from a copy on tmpfs (ext4's 64-bit directory offsets defeat 32-bit dracut-install under qemu-user)
      expect(calls[0]).toContain('--kmoddir /tmp/ota-kmod/lib/modules/6.1.0-1 ');
      expect(await cat('/usr/etc/dracut.conf.d/ota-ostree.conf')).toContain('add_dracutmodules+=" ostree "');
      // the board's dracut met the kernel's initramfs dependency, and every package is installed
      const status = await cat('/usr/lib/sysimage/dpkg/status');
      expect(status).not.toMatch(/^Package: initramfs-tools$/m);
      expect(status.match(/^Status: install ok installed$/gm)?.length).toBe(img.packages);
      expect(status).toMatch(/^Package: fx-app$/m);
    } finally {
      repo.close();
    }
  });

  it('after a kernel bump, reuses the image without the board and rebuilds only the board part', async () => {
    await fx.republish([{ name: 'fx-app', version: '1', arch: 'amd64', files: { '/usr/bin/fx-app': '#!/bin/sh\n' } }, ...boardPackages('amd64', '6.1.0-2')]);
    await rm(fx.lockPath);
    events.length = 0;
    const second = await build({ inputs: [fx.manifest], repoPath: join(fx.dir, 'repo'), cacheDir: fx.cacheDir, env: fx.env, boardsDir, onEvent: (e) => events.push(e.message) });
    expect(second.images[0]!.kernels).toEqual(['6.1.0-2']);
    expect(second.debs.imported).toBe(1);
    expect(events.some((m) => m.includes('the image without the board is built already'))).toBe(true);
    // only the board's part (kernel, dracut and the stand-in systemd it pulls in, ostree-boot, u-boot) was configured again
    expect(events.filter((m) => m.startsWith('dpkg --configure -a:'))).toEqual(['dpkg --configure -a: 5 packages']);
    expect(existsSync(join(fx.dir, 'repo'))).toBe(true);
    const repo = await Repo.open(join(fx.dir, 'repo'));
    try {
      expect((await catFile(repo, second.images[0]!.ref, '/usr/lib/modules/6.1.0-2/initramfs.img')).toString()).toContain('initramfs for 6.1.0-2');
      before = repo.resolve(second.images[0]!.ref);
    } finally {
      repo.close();
    }
  }, 300_000);

  it('puts the same image on a second board by building only that board\'s part', async () => {
    await mkdir(join(boardsDir, 'fxboard2'), { recursive: true });
    await writeFile(join(boardsDir, 'fxboard2/board.yaml'), BOARD_YAML('amd64').replace('name: fxboard', 'name: fxboard2').replace('console: ttyS0', 'console: ttyS1'));
    await fx.writeManifest(['fx-app'], 'board: fxboard2');
    events.length = 0;
    try {
      const other = await build({ inputs: [fx.manifest], repoPath: join(fx.dir, 'repo'), cacheDir: fx.cacheDir, env: fx.env, boardsDir, onEvent: (e) => events.push(e.message) });
      expect(other.images[0]!.ref).toBe('fx/amd64/fxboard2');
      expect(events.some((m) => m.includes('the image without the board is built already'))).toBe(true);
      expect(events.filter((m) => m.startsWith('dpkg --configure -a:'))).toEqual(['dpkg --configure -a: 5 packages']);
      expect(other.images[0]!.checksum).not.toBe(before);
    } finally {
      await fx.writeManifest(['fx-app'], 'board: fxboard');
    }
  }, 300_000);

  it('refuses an initramfs without the modules to mount the root (ERR_OTA_BUILD), and moves no ref', async () => {
    await fx.republish([{ name: 'fx-app', version: '1', arch: 'amd64', files: { '/usr/bin/fx-app': '#!/bin/sh\n' } }, ...boardPackages('amd64', '6.1.0-3', { modules: ['kernel/drivers/block/virtio_blk.ko'] })]);
    await rm(fx.lockPath);
    const err = await otaRejection(build({ inputs: [fx.manifest], repoPath: join(fx.dir, 'repo'), cacheDir: fx.cacheDir, env: fx.env, boardsDir }));
    expect(err.code).toBe('ERR_OTA_BUILD');
    expect(err.message).toContain('fx/amd64/fxboard: kernel 6.1.0-3: the initramfs lacks the module ext4 (not built into the kernel either)');
    expect(err.message).toContain('it holds 1 modules in 3 files');
    const repo = await Repo.open(join(fx.dir, 'repo'));
    try {
      expect(repo.resolve('fx/amd64/fxboard')).toBe(before);
    } finally {
      repo.close();
    }
  }, 300_000);
});

