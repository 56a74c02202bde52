import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootedFromCommandLine, resolveDeployment } from '../../../device-agent/agent/booted.js';
import { commitDirectory, Repo, Sysroot } from '../../../node-ostree/index.js';
import { removeTree } from '../../helpers/ostree-cli.js';
import { otaRejection } from '../../helpers/errors.js';

// A real sysroot made by node-ostree (libostree's own deploy writes the boot links and BLS entries): two
// commits with the same kernel, so both share a boot checksum and differ only in their boot serial.

let tmp: string;
let sysroot: string;
let first: string;
let second: string;

async function commitTree(repo: Repo, name: string): Promise<string> {
  const tree = join(tmp, `tree-${name}`);
  await mkdir(join(tree, 'usr/lib/modules/6.1.0-test'), { recursive: true });
  await mkdir(join(tree, 'usr/etc'), { recursive: true });
  await writeFile(join(tree, 'usr/lib/modules/6.1.0-test/vmlinuz'), 'KERNEL\n');
  await writeFile(join(tree, 'usr/lib/modules/6.1.0-test/initramfs.img'), 'INITRAMFS\n');
  await writeFile(join(tree, 'usr/lib/os-release'), `ID=debian\nVERSION_ID=${name}\n`);
  return (await commitDirectory(repo, tree, { ref: 'os', subject: name, timestamp: 1_700_000_000 })).checksum;
}

/** What the bootloader passes for BLS entry `n` (0: the default): its `options` line. */
async function entryOptions(n: number): Promise<string> {
  const dir = join(sysroot, 'boot/loader/entries');
  const entries = await Promise.all((await readdir(dir)).map(async (f) => readFile(join(dir, f), 'utf8')));
  // ostree names entries so the default sorts last; its `version` line is the reverse of the boot order.
  const byOrder = entries.sort((a, b) => Number(/^version (\d+)/m.exec(b)![1]) - Number(/^version (\d+)/m.exec(a)![1]));
  return /^options (.*)$/m.exec(byOrder[n]!)![1]!;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-booted-sysroot-'));
  sysroot = join(tmp, 'sysroot');
  const sr = await Sysroot.open(sysroot);
  try {
    await sr.initFs();
    await sr.osInit('debian');
    const repo = await Repo.open(join(sysroot, 'ostree/repo'));
    try {
      first = await commitTree(repo, '1.0');
      second = await commitTree(repo, '1.1');
    } finally {
      repo.close();
    }
    await sr.deploy('debian', first, { kargs: ['root=LABEL=root'] });
    await sr.deploy('debian', second, { kargs: ['root=LABEL=root'] });
  } finally {
    sr.close();
  }
});
afterAll(async () => {
  await removeTree(tmp);
});

describe('the booted deployment from the kernel command line, on a real sysroot', () => {
  it('resolves each boot entry to its own deployment, though both share a kernel', async () => {
    for (const [n, commit] of [[0, second], [1, first]] as const) {
      const cmdline = join(tmp, `cmdline-${n}`);
      await writeFile(cmdline, `${await entryOptions(n)}\n`);
      const booted = await bootedFromCommandLine({ sysroot, cmdlinePath: cmdline });
      expect(booted).toEqual({ osname: 'debian', checksum: commit, serial: 0 });
    }
  });

  it('is null when the line has no ostree= or the file is missing', async () => {
    await writeFile(join(tmp, 'plain'), 'root=/dev/sda1 ro\n');
    expect(await bootedFromCommandLine({ sysroot, cmdlinePath: join(tmp, 'plain') })).toBeNull();
    expect(await bootedFromCommandLine({ sysroot, cmdlinePath: join(tmp, 'absent') })).toBeNull();
  });

  it('refuses an ostree= that leads nowhere or outside the deployments', async () => {
    const gone = await otaRejection(resolveDeployment(sysroot, '/ostree/boot.1/debian/0000/0'));
    expect(gone.code).toBe('ERR_OTA_OSTREE');
    expect(gone.message).toContain('names no deployment');
    const elsewhere = await otaRejection(resolveDeployment(sysroot, '/ostree/repo'));
    expect(elsewhere.message).toContain('it leads to ostree/repo');
  });
});
