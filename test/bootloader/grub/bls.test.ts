import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBlsEntry, readOstreeBlsEntries, sortBlsEntries, strverscmp, type BlsEntry } from '../../../bootloader/grub/bls.js';
import { otaRejection, rejectionOf } from '../../helpers/errors.js';
import { OtaError } from '../../../common/errors.js';

// An entry as `ostree admin deploy` 2022.7 writes it (measured on this machine).
const ostreeEntry = `title debian (ostree:0)
version 2
options root=LABEL=root ostree=/ostree/boot.0/debian/673c/0
linux /ostree/debian-673c/vmlinuz-6.1.0-test
initrd /ostree/debian-673c/initramfs-6.1.0-test.img
`;

const entry = (file: string, version?: string): BlsEntry => ({ file, title: file, version, linux: '/k', initrd: [], options: '', devicetree: undefined });

describe('parseBlsEntry', () => {
  it('reads OSTree\'s keys', () => {
    expect(parseBlsEntry(ostreeEntry, 'ostree-2-debian.conf')).toEqual({
      file: 'ostree-2-debian.conf',
      title: 'debian (ostree:0)',
      version: '2',
      linux: '/ostree/debian-673c/vmlinuz-6.1.0-test',
      initrd: ['/ostree/debian-673c/initramfs-6.1.0-test.img'],
      options: 'root=LABEL=root ostree=/ostree/boot.0/debian/673c/0',
      devicetree: undefined,
    });
  });

  it('splits at the first space or tab, keeps every initrd, skips comments and CRs', () => {
    const e = parseBlsEntry('# c\r\ntitle\tA  B\r\nlinux /k\ninitrd /a\ninitrd /b\ndevicetree /d.dtb\noptions quiet  splash\n', 'x.conf');
    expect(e).toMatchObject({ title: 'A  B', linux: '/k', initrd: ['/a', '/b'], devicetree: '/d.dtb', options: 'quiet  splash' });
  });

  it('refuses an entry without a kernel, naming the file', async () => {
    const e = await rejectionOf(OtaError, () => parseBlsEntry('title x\n', '/boot/loader/entries/ostree-1.conf'));
    expect(e.message).toContain('/boot/loader/entries/ostree-1.conf');
  });
});

describe('sortBlsEntries', () => {
  it('orders as OSTree does: highest version first (numerically), versionless last', () => {
    const sorted = sortBlsEntries([entry('a', '9'), entry('none'), entry('b', '10'), entry('c', '1.2'), entry('d', '1.10')]);
    expect(sorted.map((e) => e.file)).toEqual(['b', 'a', 'd', 'c', 'none']);
  });

  it('compares like strverscmp for plain versions', () => {
    expect(strverscmp('2', '10')).toBeLessThan(0);
    expect(strverscmp('1.10', '1.9')).toBeGreaterThan(0);
    expect(strverscmp('abc', 'abc')).toBe(0);
    expect(strverscmp('a', 'b')).toBeLessThan(0);
  });
});

describe('readOstreeBlsEntries', () => {
  it('reads only ostree-*.conf files through the loader symlink, sorted', async () => {
    const boot = await mkdtemp(join(tmpdir(), 'ota-bls-'));
    const entries = join(boot, 'loader.1/entries');
    await mkdir(entries, { recursive: true });
    await symlink('loader.1', join(boot, 'loader'));
    await writeFile(join(entries, 'ostree-1-debian.conf'), ostreeEntry.replace('version 2', 'version 1').replace('ostree:0', 'ostree:1'));
    await writeFile(join(entries, 'ostree-2-debian.conf'), ostreeEntry);
    await writeFile(join(entries, 'other.conf'), 'title not ours\nlinux /x\n');
    await mkdir(join(entries, 'ostree-3-dir.conf'));
    const got = await readOstreeBlsEntries(boot);
    expect(got.map((e) => e.title)).toEqual(['debian (ostree:0)', 'debian (ostree:1)']);
  });

  it('says to check /boot when there are no entries', async () => {
    const e = await otaRejection(readOstreeBlsEntries('/nonexistent/boot'));
    expect(e.message).toContain('/nonexistent/boot/loader/entries');
    expect(e.hint).toContain('/boot');
  });
});
