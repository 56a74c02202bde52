import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { readOstreeBlsEntries, type BlsEntry } from '../../../bootloader/grub/bls.js';
import { renderGrubConfig } from '../../../bootloader/grub/config.js';
import { grubBackend } from '../../../bootloader/grub/backend.js';
import { parseGrubEnv, writeGrubEnv } from '../../../bootloader/grub/env.js';
import { armForUpgrade, clearRollback, initialBootState, markGood, nextBoot, type BootState } from '../../../bootloader/state.js';
import { bootStateFromVars } from '../../../bootloader/state-vars.js';
import { removeTree } from '../../helpers/ostree-cli.js';
import { makeDiskImage, readVfatFile, writeVfatFile, type DiskImage } from '../disk-image.js';
import { makeTwoDeploymentSysroot } from '../ostree-sysroot.js';

// The generated grub.cfg checked by grub-script-check and executed by Debian's GRUB itself,
// built as grub-emu (grub-emu package): the same GRUB script engine, test/load_env/save_env and
// search modules as a real GRUB, with a device map pointing (hd0) at a disk image (vfat ESP with
// the grubenv, ext4 root with a real two-deployment OSTree sysroot). grub-emu has no `linux`
// loader, so the harness defines GRUB functions `linux` and `initrd` that show which files GRUB
// found (by `cat`ing them from the partition it searched) and then halt; everything else,
// including save_env writing the grubenv's blocks in place, is GRUB's own code.

const ENV = { label: 'ESP', path: '/EFI/ota/grubenv' };
const HARNESS = [
  'function linux {',
  '  if [ -f "$1" ]; then echo "emu: linux $@"; cat "$1"; set emu_loaded=1; else echo "emu: no kernel $1"; fi',
  '}',
  'function initrd {',
  '  cat "$1"',
  '  if [ "${emu_loaded}" = "1" ]; then halt; fi',
  '}',
  '',
].join('\n');

let dir: string;
let grubDir: string;
let img: DiskImage;
let envCopy: string;
let bls: BlsEntry[];

const flat = (s: string) => s.replace(/\s+/g, '');
// eslint-disable-next-line no-control-regex -- terminal escapes are what is being removed
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

async function boot(): Promise<{ out: string; flat: string; env: Buffer; state: BootState }> {
  const { stdout } = await run('run grub.cfg in grub-emu', ['grub-emu', '-d', grubDir, '-m', join(dir, 'device.map')], { signal: AbortSignal.timeout(20_000) });
  // grub-emu draws on an 80-column terminal: drop colours and its line wrapping.
  const out = stdout.replace(ANSI, '').replace(/\r/g, '');
  const env = await readVfatFile(img, 0, 'EFI/ota/grubenv');
  return { out, flat: flat(out), env, state: bootStateFromVars(parseGrubEnv(env, 'grubenv'), 'grubenv') };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-grub-emu-'));
  const { sysroot } = await makeTwoDeploymentSysroot(dir);
  bls = await readOstreeBlsEntries(join(sysroot, 'boot'));
  const cfg = renderGrubConfig(bls, { env: ENV, boot: { label: 'root', path: '/boot' }, timeoutSeconds: 0 });
  grubDir = join(dir, 'grub');
  await mkdir(grubDir);
  await symlink('/usr/lib/grub/x86_64-emu', join(grubDir, 'x86_64-emu'));
  await writeFile(join(grubDir, 'grub.cfg'), HARNESS + cfg);
  await writeFile(join(dir, 'generated.cfg'), cfg);
  envCopy = join(dir, 'grubenv');
  await writeGrubEnv(envCopy, new Map([['saved_entry', 'kept by us']]));
  const bl = grubBackend({ envPath: envCopy });
  await bl.setState(armForUpgrade(initialBootState()));
  img = await makeDiskImage(join(dir, 'disk.img'), [
    { fs: 'vfat', sizeMiB: 16, label: ENV.label, files: [{ from: envCopy, to: 'EFI/ota/grubenv' }] },
    { fs: 'ext4', sizeMiB: 32, label: 'root', dir: sysroot },
  ]);
  await writeFile(join(dir, 'device.map'), `(hd0) ${img.path}\n`);
}, 60_000);

afterAll(async () => {
  if (dir) await removeTree(dir);
});

describe('grub.cfg', () => {
  it('passes grub-script-check (with and without the test harness), which does reject a broken script', async () => {
    await run('grub-script-check', ['grub-script-check', join(dir, 'generated.cfg')]);
    await run('grub-script-check', ['grub-script-check', join(grubDir, 'grub.cfg')]);
    await writeFile(join(dir, 'broken.cfg'), 'if [ "${x}" = "1" ]; then\n  set y=1\n');
    const broken = await run('grub-script-check', ['grub-script-check', join(dir, 'broken.cfg')], { okCodes: [0, 1] });
    expect(broken.code).toBe(1);
  });
});

describe('grub.cfg run by GRUB (grub-emu)', () => {
  const entries = ['KERNEL-B', 'KERNEL-A'] as const; // B was deployed last: OSTree's entry 0
  let state = armForUpgrade(initialBootState());

  it('counts 1, 2, 3 while upgrade_available=1 and boots entry 0, keeping other grubenv variables', async () => {
    for (const n of [1, 2, 3]) {
      const r = await boot();
      expect(r.state).toEqual({ bootcount: n, upgradeAvailable: true, rollback: false, bootlimit: 3 });
      expect(r.state).toEqual(nextBoot(state).state);
      expect(parseGrubEnv(r.env, 'grubenv').get('saved_entry')).toBe('kept by us');
      expect(r.out).toContain(`ota: bootcount=${n - 1} bootlimit=3 upgrade_available=1 rollback=0`);
      expect(r.out).toContain("Booting `debian (ostree:0)'");
      expect(r.out).toContain(`${entries[0]}: not an arm64 Image`);
      expect(r.flat).toContain(flat('root=LABEL=root console=ttyAMA0 ostree=/ostree/boot.0/debian/'));
      state = r.state;
    }
  });

  it('falls back to entry 1 on the boot past bootlimit, recording rollback=1 upgrade_available=0', async () => {
    const r = await boot();
    expect(r.state).toEqual({ bootcount: 4, upgradeAvailable: false, rollback: true, bootlimit: 3 });
    expect(r.state).toEqual(nextBoot(state).state);
    expect(r.out).toContain('ota: boot 4 is past bootlimit 3: falling back to the previous deployment');
    expect(r.out).toContain("Booting `debian (ostree:1)'");
    expect(r.out).toContain(`${entries[1]}: not an arm64 Image`);
    expect(r.out).not.toContain(entries[0]);
    state = r.state;
  });

  it('keeps booting entry 1 while rollback=1, without saving', async () => {
    const before = await readVfatFile(img, 0, 'EFI/ota/grubenv');
    const r = await boot();
    expect(r.env).toEqual(before);
    expect(r.out).toContain(`${entries[1]}: not an arm64 Image`);
  });

  it('boots entry 0 without counting once the agent cleared the state, and falls back to entry 1 if GRUB cannot load it', async () => {
    await grubBackend({ envPath: envCopy }).setState(markGood(clearRollback(state)));
    await writeVfatFile(img, 0, envCopy, 'EFI/ota/grubenv');
    const before = await readVfatFile(img, 0, 'EFI/ota/grubenv');
    const r = await boot();
    expect(r.env).toEqual(before);
    expect(r.out).toContain(`${entries[0]}: not an arm64 Image`);
    // Remove entry 0's kernel: GRUB's own fallback boots entry 1 in the same boot.
    const kernel0 = `/boot${bls[0]?.linux}`;
    await run('remove a kernel', ['debugfs', '-w', '-R', `rm ${kernel0}`, `${img.path}?offset=${img.offsets[1]}`]);
    const f = await boot();
    expect(f.flat).toContain(flat(`emu: no kernel ${kernel0}`));
    expect(f.out).toContain(`${entries[1]}: not an arm64 Image`);
    expect(f.env).toEqual(before);
  });
});
