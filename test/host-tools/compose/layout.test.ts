import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDeployable } from '../../../host-tools/compose/layout.js';
import { otaRejection } from '../../helpers/errors.js';

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'ota-layout-'));
  for (const [p, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, p)), { recursive: true });
    if (p.endsWith('/')) await mkdir(join(root, p), { recursive: true });
    else await writeFile(join(root, p), content);
  }
  return root;
}

const BASE = { 'usr/lib/os-release': 'ID=debian\n', 'var/lib/dpkg/status': '', 'etc/hostname': 'x\n', 'var/opt/': '', 'opt/vendor/tool': 't\n' };

describe('makeDeployable', () => {
  it("keeps /var's files in /usr/share/factory and has tmpfiles copy them in, after their directories", async () => {
    const root = await tree({ ...BASE, 'var/lib/app/state.db': 'db\n', 'var/cache/debconf/config.dat': 'cfg\n' });
    await makeDeployable(root);
    expect(existsSync(join(root, 'var/lib/app/state.db'))).toBe(false);
    expect(await readFile(join(root, 'usr/share/factory/var/lib/app/state.db'), 'utf8')).toBe('db\n');
    const lines = (await readFile(join(root, 'usr/lib/tmpfiles.d/ota-var.conf'), 'utf8')).split('\n');
    const copy = lines.indexOf('C /var/lib/app/state.db - - - - /usr/share/factory/var/lib/app/state.db');
    expect(copy).toBeGreaterThan(lines.findIndex((l) => l.startsWith('d /var/lib/app ')));
    expect(lines).toContain('C /var/cache/debconf/config.dat - - - - /usr/share/factory/var/cache/debconf/config.dat');
    expect(lines).toContain('L /var/lib/dpkg - - - - ../../usr/lib/sysimage/dpkg');
    // the commit's /var is empty: tmpfiles makes it, libostree would only ignore (and note) it
    expect(await readdir(join(root, 'var'))).toEqual([]);
  });

  it("moves /opt's software to /usr/lib/opt, linked from /var/opt, so it follows updates", async () => {
    const root = await tree(BASE);
    await makeDeployable(root);
    expect(await readlink(join(root, 'opt'))).toBe('var/opt');
    expect(await readFile(join(root, 'usr/lib/opt/vendor/tool'), 'utf8')).toBe('t\n');
    expect(await readFile(join(root, 'usr/lib/tmpfiles.d/ota-var.conf'), 'utf8')).toContain('L /var/opt/vendor - - - - /usr/lib/opt/vendor\n');
  });

  it('moves every kernel, warns that OSTree boots the first, and leaves /boot empty', async () => {
    const root = await tree({ ...BASE, 'boot/vmlinuz-6.1.0-2': 'k2', 'boot/vmlinuz-6.1.0-1': 'k1', 'boot/initrd.img-6.1.0-1': 'i1' });
    const r = await makeDeployable(root);
    expect(r.kernels).toEqual(['6.1.0-1', '6.1.0-2']);
    expect(r.warnings).toEqual(['the image has 2 kernels (6.1.0-1, 6.1.0-2); OSTree boots 6.1.0-1']);
    expect(await readFile(join(root, 'usr/lib/modules/6.1.0-1/initramfs.img'), 'utf8')).toBe('i1');
    expect(await readdir(join(root, 'boot'))).toEqual([]);
  });

  it("drops SSH host keys made at build time and makes sshd's unit generate them first", async () => {
    const root = await tree({
      ...BASE,
      'etc/ssh/ssh_host_ed25519_key': 'secret', 'etc/ssh/ssh_host_ed25519_key.pub': 'pub', 'etc/ssh/sshd_config': 'x',
      'usr/lib/systemd/system/ssh.service': '[Service]\nExecStartPre=/usr/sbin/sshd -t\nExecStart=/usr/sbin/sshd -D\n',
    });
    await makeDeployable(root);
    expect(await readdir(join(root, 'usr/etc/ssh'))).toEqual(['sshd_config']);
    const dropIn = await readFile(join(root, 'usr/lib/systemd/system/ssh.service.d/ota-host-keys.conf'), 'utf8');
    expect(dropIn.split('\n').filter((l) => l.startsWith('ExecStartPre='))).toEqual(['ExecStartPre=', 'ExecStartPre=/usr/bin/ssh-keygen -A', 'ExecStartPre=/usr/sbin/sshd -t']);
  });

  it('refuses a tree without os-release, or one that already has /usr/etc, and says why', async () => {
    const noRelease = await tree({ 'var/lib/dpkg/status': '', 'etc/hostname': 'x\n' });
    const e = await otaRejection(makeDeployable(noRelease));
    expect(e.code).toBe('ERR_OTA_BUILD');
    expect(e.message).toContain('no os-release');
    expect(existsSync(join(noRelease, 'etc/hostname'))).toBe(true);
    const both = await tree({ ...BASE, 'usr/etc/x': 'y' });
    expect((await otaRejection(makeDeployable(both))).message).toContain('ships /usr/etc');
  });
});
