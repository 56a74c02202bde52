import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type BuildResult } from '../../../host-tools/build/build.js';
import { catFile, Repo } from '../../../node-ostree/index.js';
import { fixtureImage, type FixtureImage } from '../../helpers/build-harness.js';
import { BOARD_YAML, boardPackages } from '../../helpers/board-fixture.js';

// A board's packages are built on top of the image's: fixture kernel and bootloader packages,
// and a stand-in `dracut` (a fake at the process boundary: a script that records how it was
// called and writes an initramfs file) so the test runs in seconds; versions 9999 win over the
// host archive's; the real dracut runs in
// build-real.int.test.ts.
describe('ota build with a board', () => {
  let root: string;
  let fx: FixtureImage;
  let boardsDir: string;
  let first: BuildResult;
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
      expect(await cat('/usr/lib/modules/6.1.0-1/initramfs.img')).toBe('initramfs for 6.1.0-1\n');
      // the kernel's own hooks were told not to build one; dracut ran once, not host-only, with ostree
      expect(await cat('/usr/share/factory/var/lib/fx-linux-postinst')).toBe('INITRD=No\n');
      const calls = (await cat('/usr/share/factory/var/lib/dracut-calls')).trim().split('\n');
      expect(calls).toHaveLength(1);
      expect(calls[0]).toContain('--no-hostonly --add ostree');
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
    // only the board's part (kernel, dracut, ostree-boot, u-boot) was configured again
    expect(events.filter((m) => m.startsWith('dpkg --configure -a:'))).toEqual(['dpkg --configure -a: 4 packages']);
    expect(existsSync(join(fx.dir, 'repo'))).toBe(true);
    const repo = await Repo.open(join(fx.dir, 'repo'));
    try {
      expect((await catFile(repo, second.images[0]!.ref, '/usr/lib/modules/6.1.0-2/initramfs.img')).toString()).toBe('initramfs for 6.1.0-2\n');
    } finally {
      repo.close();
    }
  }, 300_000);
});

