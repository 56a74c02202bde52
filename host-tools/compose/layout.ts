import { existsSync } from 'node:fs';
import { link, lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OtaError } from '../../common/errors.js';

/**
 * Makes a configured Debian tree deployable by OSTree, in place (the last step of stage 2):
 * - each kernel /boot/vmlinuz-$kver (with its initrd, config, System.map) into
 *   /usr/lib/modules/$kver/ as vmlinuz, initramfs.img, ...; its device trees
 *   (/usr/lib/linux-image-$kver) hardlinked as dtb/ there, where libostree looks;
 * - /etc into /usr/etc (libostree's three-way merge takes it from there), machine-id empty;
 * - the dpkg database into /usr/lib/sysimage/dpkg, with /var/lib/dpkg a link to it, so that
 *   what is installed travels with the commit and `dpkg -l` works on the device;
 * - /home /root /opt /srv /mnt /usr/local as links into /var, their contents moved there (what
 *   /opt holds goes to /usr/lib/opt, linked from /var/opt, so that it follows updates);
 * - a tmpfiles.d file that recreates every directory, link and file of the image's /var at boot
 *   (files kept in /usr/share/factory/var), because libostree deploys no /var content; the
 *   commit's /var is then an empty directory;
 * - /sysroot and /ostree -> sysroot/ostree, the mount point and link an OSTree boot uses;
 * - no SSH host keys: openssh-server's postinst makes them at build time, which would give every
 *   device the same keys (and every build different bytes); a drop-in makes them at first start.
 *
 * @example
 * const { kernels } = await makeDeployable('/repo/tmp/ota-stage2-x/root');
 */
export interface LayoutResult {
  /** Kernel versions found, in name order (libostree boots the first). */
  kernels: string[];
  warnings: string[];
}

export const DPKG_DB = 'usr/lib/sysimage/dpkg';
/** Where files of the image's /var wait to be copied in at boot (systemd's convention). */
export const FACTORY = 'usr/share/factory';

/** Top-level paths that become links into /var, and where their contents go. */
export const VAR_LINKS: [string, string, string][] = [
  // path, link target, directory under /var
  ['home', 'var/home', 'home'],
  ['root', 'var/roothome', 'roothome'],
  ['opt', 'var/opt', 'opt'],
  ['srv', 'var/srv', 'srv'],
  ['mnt', 'var/mnt', 'mnt'],
  ['usr/local', '../var/usrlocal', 'usrlocal'],
];

export async function makeDeployable(root: string): Promise<LayoutResult> {
  const warnings: string[] = [];
  if (!existsSync(join(root, 'usr/lib/os-release')) && !existsSync(join(root, 'etc/os-release'))) {
    throw new OtaError('ERR_OTA_BUILD', 'the image has no os-release (usr/lib/os-release or etc/os-release), which OSTree needs to deploy it', {
      hint: 'add base-files to the manifest (variant minbase includes it)',
    });
  }
  if (existsSync(join(root, 'usr/etc'))) throw new OtaError('ERR_OTA_BUILD', 'a package ships /usr/etc, where the build must move /etc', { hint: 'find it with `ota diff` or dpkg -S in the image, and exclude it' });

  const kernels = await moveKernels(root, warnings);

  // The dpkg database moves into /usr; /var/lib/dpkg stays as a link for dpkg and apt.
  await mkdir(join(root, dirname(DPKG_DB)), { recursive: true, mode: 0o755 });
  await rename(join(root, 'var/lib/dpkg'), join(root, DPKG_DB));
  await symlink(`../../${DPKG_DB}`, join(root, 'var/lib/dpkg'));

  for (const [path, target, varDir] of VAR_LINKS) {
    const from = join(root, path);
    const to = join(root, 'var', varDir);
    const st = await lstat(from).catch(() => undefined);
    if (st?.isDirectory() && path === 'opt') {
      // Software in /opt belongs to the image and must follow its updates: it moves to
      // /usr/lib/opt, and /var/opt/<name> links to it (what rpm-ostree does).
      await mkdir(to, { recursive: true, mode: 0o755 });
      for (const n of await readdir(from)) {
        await mkdir(join(root, 'usr/lib/opt'), { recursive: true, mode: 0o755 });
        await rename(join(from, n), join(root, 'usr/lib/opt', n));
        await symlink(`/usr/lib/opt/${n}`, join(to, n));
      }
      await rm(from, { recursive: true });
    } else if (st?.isDirectory()) {
      if (!existsSync(to)) await rename(from, to);
      else {
        // FHS has both /opt and /var/opt (base-files ships them): merge, refusing to overwrite.
        for (const n of await readdir(from)) {
          if (existsSync(join(to, n))) throw new OtaError('ERR_OTA_BUILD', `both /${path}/${n} and /var/${varDir}/${n} exist; the build cannot move one onto the other`);
          await rename(join(from, n), join(to, n));
        }
        await rm(from, { recursive: true });
      }
    } else if (st) {
      await rm(from);
    } else if (!existsSync(to)) {
      await mkdir(to, { mode: path === 'root' ? 0o700 : 0o755 });
    }
    await symlink(target, from);
  }

  await mkdir(join(root, 'usr/lib/tmpfiles.d'), { recursive: true, mode: 0o755 });
  await writeFile(join(root, 'usr/lib/tmpfiles.d/ota-var.conf'), await varTmpfiles(root));
  // What tmpfiles now makes leaves the commit: libostree would ignore it on deploy anyway, after
  // printing a note for each directory (on the build host and, on every update, on the device).
  for (const name of await readdir(join(root, 'var'))) await rm(join(root, 'var', name), { recursive: true, force: true });

  await dropHostKeys(root);
  if (!existsSync(join(root, 'etc/machine-id')) || (await readFile(join(root, 'etc/machine-id'))).length > 0) await writeFile(join(root, 'etc/machine-id'), '');
  await rename(join(root, 'etc'), join(root, 'usr/etc'));

  if (!existsSync(join(root, 'sysroot'))) await mkdir(join(root, 'sysroot'), { mode: 0o755 });
  if (!existsSync(join(root, 'ostree'))) await symlink('sysroot/ostree', join(root, 'ostree'));
  for (const d of ['boot', 'dev', 'proc', 'run', 'sys']) if (!existsSync(join(root, d))) await mkdir(join(root, d), { mode: 0o755 });
  if (!existsSync(join(root, 'tmp'))) await mkdir(join(root, 'tmp'), { mode: 0o1777 });
  return { kernels, warnings };
}

const KERNEL_FILES: [string, string][] = [
  ['vmlinuz', 'vmlinuz'],
  ['vmlinux', 'vmlinuz'],
  ['initrd.img', 'initramfs.img'],
  ['config', 'config'],
  ['System.map', 'System.map'],
];

async function moveKernels(root: string, warnings: string[]): Promise<string[]> {
  const boot = join(root, 'boot');
  const names = existsSync(boot) ? (await readdir(boot)).sort() : [];
  const kvers = names.filter((n) => /^vmlinu[xz]-/.test(n)).map((n) => n.replace(/^vmlinu[xz]-/, ''));
  for (const kver of kvers) {
    const dest = join(root, 'usr/lib/modules', kver);
    await mkdir(dest, { recursive: true, mode: 0o755 });
    for (const [from, to] of KERNEL_FILES) {
      const src = join(boot, `${from}-${kver}`);
      if (existsSync(src) && !existsSync(join(dest, to))) await rename(src, join(dest, to));
    }
    // Debian keeps device trees in /usr/lib/linux-image-$kver; libostree reads them from dtb/.
    const dtbs = join(root, 'usr/lib', `linux-image-${kver}`);
    if (existsSync(dtbs) && !existsSync(join(dest, 'dtb'))) await hardlinkTree(dtbs, join(dest, 'dtb'));
  }
  // Debian's /vmlinuz and /initrd.img links point into /boot, which an OSTree system mounts over.
  for (const l of ['vmlinuz', 'vmlinuz.old', 'initrd.img', 'initrd.img.old']) {
    const p = join(root, l);
    if ((await lstat(p).catch(() => undefined))?.isSymbolicLink()) await rm(p);
    const q = join(boot, l);
    if ((await lstat(q).catch(() => undefined))?.isSymbolicLink()) await rm(q);
  }
  if (kvers.length > 1) warnings.push(`the image has ${kvers.length} kernels (${kvers.join(', ')}); OSTree boots ${kvers[0]}`);
  return kvers;
}

async function hardlinkTree(from: string, to: string): Promise<void> {
  await mkdir(to, { mode: 0o755 });
  for (const e of await readdir(from, { withFileTypes: true })) {
    const s = join(from, e.name);
    const d = join(to, e.name);
    if (e.isDirectory()) await hardlinkTree(s, d);
    else if (e.isSymbolicLink()) await symlink(await readlink(s), d);
    else await link(s, d);
  }
}

/** `d` and `L` lines for every directory and symlink under /var (sorted, numeric owners). */
async function varTmpfiles(root: string): Promise<string> {
  const lines: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of (await readdir(join(root, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const r = `${rel}/${e.name}`;
      const st = await lstat(join(root, r));
      if (e.isDirectory()) {
        lines.push(`d /${r} ${(st.mode & 0o7777).toString(8).padStart(4, '0')} ${st.uid} ${st.gid} - -`);
        await walk(r);
      } else if (e.isSymbolicLink()) {
        lines.push(`L /${r} - - - - ${await readlink(join(root, r))}`);
      } else if (e.isFile()) {
        // Files move to systemd's factory tree and are copied into /var when missing there.
        const factory = join(root, FACTORY, r);
        await mkdir(dirname(factory), { recursive: true, mode: 0o755 });
        await rename(join(root, r), factory);
        lines.push(`C /${r} - - - - /${FACTORY}/${r}`);
      }
    }
  };
  await walk('var');
  return `# Generated by ota build: the directories, links and files of the image's /var. OSTree does
# not deploy a commit's /var (libostree ignores its content); systemd-tmpfiles makes it at boot,
# copying files from /${FACTORY}/var.
${lines.join('\n')}
`;
}

/** SSH host keys are per device: drop the build's, generate on the device before sshd starts. */
async function dropHostKeys(root: string): Promise<void> {
  const sshDir = join(root, 'etc/ssh');
  const keys = existsSync(sshDir) ? (await readdir(sshDir)).filter((n) => /^ssh_host_.*_key(\.pub)?$/.test(n)) : [];
  for (const k of keys) await rm(join(sshDir, k));
  if (keys.length === 0 || !existsSync(join(root, 'usr/lib/systemd/system/ssh.service'))) return;
  const dropIn = join(root, 'usr/lib/systemd/system/ssh.service.d');
  await mkdir(dropIn, { recursive: true, mode: 0o755 });
  // Keys first: the unit's own ExecStartPre (`sshd -t`) fails without them, so the list is reset and re-added after.
  const unit = await readFile(join(root, 'usr/lib/systemd/system/ssh.service'), 'utf8');
  const pre = unit.split('\n').filter((l) => l.startsWith('ExecStartPre='));
  const lines = ['# ota build removed the host keys made at build time; each device makes its own.', '[Service]', 'ExecStartPre=', 'ExecStartPre=/usr/bin/ssh-keygen -A', ...pre, ''];
  await writeFile(join(dropIn, 'ota-host-keys.conf'), lines.join('\n'));
}
