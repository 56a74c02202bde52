import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { build, type ImageBuild } from '../../../host-tools/compose/build.js';
import { checkout, pull, Repo, Sysroot } from '../../../node-ostree/index.js';
import { imageDpkg, testCacheDir } from '../../helpers/build-harness.js';
import { removeTree } from '../../helpers/ostree-cli.js';

// The real thing from the build host's own apt sources: Debian minbase + systemd-sysv for arm64
// on the reference board (qemu-arm64: Debian's arm64 kernel, an initramfs made by dracut with the
// ostree module, U-Boot), configured through qemu-user. Debs are cached in ~/.cache/ota.
let dir: string;
let img: ImageBuild;
let tree: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-build-real-'));
  const manifest = join(dir, 'image.yaml');
  await writeFile(
    manifest,
    ['name: gateway', 'arch: arm64', 'board: qemu-arm64', 'sources:', '  - uri: host', 'variant: minbase', 'packages: [systemd-sysv]', ''].join('\n'),
  );
  const r = await build({ inputs: [manifest], repoPath: join(dir, 'repo'), cacheDir: testCacheDir() });
  img = r.images[0]!;
  const repo = await Repo.open(join(dir, 'repo'));
  tree = join(dir, 'tree');
  await checkout(repo, img.ref, tree, { userMode: true });
  repo.close();
}, 900_000);

afterAll(async () => {
  if (dir) await removeTree(dir);
});

it('configures a real arm64 minbase + systemd-sysv image: dpkg --audit (run through qemu) is clean, every package is ii', async () => {
  expect(img.ref).toBe('gateway/arm64/qemu-arm64');
  expect(img.packages).toBeGreaterThan(100);
  expect((await imageDpkg(tree, 'arm64', ['--audit'])).trim()).toBe('');
  const rows = (await imageDpkg(tree, 'arm64', ['--list'])).split('\n').filter((l) => /^[a-z]{2} /.test(l));
  expect(rows.length).toBe(img.packages);
  expect(rows.filter((l) => !l.startsWith('ii '))).toEqual([]);
  expect(await readFile(join(tree, 'usr/lib/os-release'), 'utf8')).toMatch(/^ID=debian$/m);
  // systemd's postinst ran: its users exist, and the default target is linked
  expect(await readFile(join(tree, 'usr/etc/passwd'), 'utf8')).toMatch(/^systemd-network:/m);
});

it("deploys into a sysroot directory with the board's kernel and a dracut initramfs that mounts OSTree deployments", async () => {
  const kver = img.kernels[0]!;
  expect(kver).toMatch(/-arm64$/);
  expect(existsSync(join(tree, 'usr/lib/modules', kver, 'vmlinuz'))).toBe(true);
  const initrd = (await run('lsinitrd', ['lsinitrd', join(tree, 'usr/lib/modules', kver, 'initramfs.img')])).stdout;
  expect(initrd).toMatch(/^ostree$/m);
  expect(initrd).toContain('ostree-prepare-root.service');
  const sysrootPath = join(dir, 'sysroot');
  const sr = await Sysroot.open(sysrootPath);
  try {
    await sr.initFs();
    await sr.osInit('gateway');
    const repo = await Repo.open(join(sysrootPath, 'ostree/repo'));
    await pull(repo, join(dir, 'repo'), { refs: [img.checksum] });
    repo.close();
    await sr.load();
    const d = await sr.deploy('gateway', img.checksum, { kargs: ['console=ttyAMA0'] });
    expect(d.checksum).toBe(img.checksum);
    const entries = readdirSync(join(sysrootPath, 'boot/loader/entries'));
    const entry = await readFile(join(sysrootPath, 'boot/loader/entries', entries[0]!), 'utf8');
    expect(entry).toContain(`vmlinuz-${kver}`);
    expect(entry).toMatch(/^initrd .*initramfs-/m);
    expect(await readFile(join(sysrootPath, d.path, 'etc/os-release'), 'utf8')).toMatch(/^ID=debian$/m);
  } finally {
    sr.close();
  }
});
