import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ostree } from '../helpers/ostree-cli.js';
import { parseUbootEnvText } from '../../bootloader/uboot/env-text.js';

/**
 * A real OSTree sysroot with two deployments whose "kernels" are text files (so a bootloader loads
 * them and then refuses to boot them), made by `ostree admin deploy` with OSTree's U-Boot backend
 * switched on: /boot/loader/uEnv.txt and the BLS entries are exactly what OSTree writes, not what
 * we think it writes. Deployment B is deployed last, so it is OSTree's entry 0.
 */
export interface TwoDeployments {
  sysroot: string;
  /** OSTree's uEnv.txt variables (kernel_image = B's kernel, kernel_image2 = A's). */
  uEnv: Map<string, string>;
}

/** The fake kernels, of different lengths so U-Boot's "N bytes read" tells which one it loaded. */
export const FAKE_KERNELS = {
  A: 'KERNEL-A: not an arm64 Image (the previous deployment)\n',
  B: 'KERNEL-B: not an arm64 Image (the update)\n',
} as const;

export async function makeTwoDeploymentSysroot(dir: string): Promise<TwoDeployments> {
  const sysroot = join(dir, 'sysroot');
  const tree = join(dir, 'tree');
  const kver = '6.1.0-test';
  const modules = join(tree, 'usr/lib/modules', kver);
  await mkdir(modules, { recursive: true });
  await mkdir(join(tree, 'usr/etc'), { recursive: true });
  await writeFile(join(tree, 'usr/lib/os-release'), 'ID=debian\nNAME="Debian GNU/Linux"\n');
  await mkdir(sysroot);
  const repo = `--repo=${join(sysroot, 'ostree/repo')}`;
  await ostree(['admin', 'init-fs', sysroot]);
  await ostree(['admin', 'os-init', `--sysroot=${sysroot}`, 'debian']);
  await ostree([repo, 'config', 'set', 'sysroot.bootloader', 'uboot']);
  // OSTree's U-Boot backend writes uEnv.txt only where one already exists.
  await mkdir(join(sysroot, 'boot/loader.0'), { recursive: true });
  await symlink('loader.0', join(sysroot, 'boot/loader'));
  await writeFile(join(sysroot, 'boot/loader/uEnv.txt'), '');
  for (const name of ['A', 'B'] as const) {
    await writeFile(join(modules, 'vmlinuz'), FAKE_KERNELS[name]);
    await writeFile(join(modules, 'initramfs.img'), `INITRAMFS-${name}\n`);
    await ostree([repo, 'commit', '-b', 'os', `--tree=dir=${tree}`, `--subject=${name}`, '--timestamp=2024-01-01T00:00:00Z']);
    await ostree(['admin', 'deploy', `--sysroot=${sysroot}`, '--os=debian', '--karg=root=LABEL=root', '--karg=console=ttyAMA0', 'os']);
  }
  const uEnv = parseUbootEnvText(await readFile(join(sysroot, 'boot/loader/uEnv.txt'), 'utf8'), 'uEnv.txt');
  return { sysroot, uEnv };
}
