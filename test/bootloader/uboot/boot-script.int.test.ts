import { appendFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { renderUbootBootScript } from '../../../bootloader/uboot/boot-script.js';
import { compileUbootBootScript } from '../../../bootloader/uboot/mkimage.js';
import { ubootBackend } from '../../../bootloader/uboot/backend.js';
import { parseUbootEnvText } from '../../../bootloader/uboot/env-text.js';
import { armForUpgrade, clearRollback, markGood, nextBoot, type BootState } from '../../../bootloader/state.js';
import { bootStateFromVars } from '../../../bootloader/state-vars.js';
import { removeTree } from '../../helpers/ostree-cli.js';
import { makeDiskImage, readVfatFile, writeVfatFile, type DiskImage } from '../disk-image.js';
import { FAKE_KERNELS, makeTwoDeploymentSysroot } from '../ostree-sysroot.js';

// The generated boot.scr run by the real U-Boot from Debian's u-boot-qemu under
// qemu-system-aarch64: a disk with a vfat boot partition (boot.scr, ota.env) and an ext4 root
// holding a real OSTree sysroot with two deployments whose kernels are text files. U-Boot's distro
// boot finds boot.scr by itself; `booti` refuses the fake kernel, the script resets, and
// -no-reboot turns the reset into qemu exiting. Each boot is one qemu run (about 2.5 s, 2 s of
// which is U-Boot's bootdelay); ota.env is read back with mtools after each.

const UBOOT = '/usr/lib/u-boot/qemu_arm64/u-boot.bin';
const BOOT_TIMEOUT_MS = 30_000;

let dir: string;
let img: DiskImage;
let uEnv: Map<string, string>;
let envPath: string;

async function boot(): Promise<{ console: string; env: Buffer; state: BootState }> {
  const argv = ['qemu-system-aarch64', '-M', 'virt', '-cpu', 'cortex-a53', '-m', '512', '-nographic', '-no-reboot', '-nic', 'none', '-bios', UBOOT];
  argv.push('-drive', `if=none,file=${img.path},format=raw,id=d`, '-device', 'virtio-blk-device,drive=d');
  // A hung U-Boot (a prompt waiting for input) is killed instead of hanging the suite.
  const { stdout } = await run('boot the test disk with U-Boot under qemu', argv, { signal: AbortSignal.timeout(BOOT_TIMEOUT_MS) });
  const env = await readVfatFile(img, 0, 'ota.env');
  return { console: stdout.replace(/\r/g, ''), env, state: bootStateFromVars(parseUbootEnvText(env.toString('utf8'), 'ota.env'), 'ota.env') };
}

/** What the script printed, from U-Boot's "Executing script" to its reset. */
const scriptPart = (out: string) => out.slice(out.indexOf('## Executing script'));
const booting = (entry: 0 | 1) => `ota: booting OSTree entry ${entry}: ${uEnv.get(entry === 0 ? 'kernel_image' : 'kernel_image2')}`;
/** U-Boot's own line for loading entry `entry`'s kernel (B, the update, is OSTree's entry 0). */
const kernelRead = (entry: 0 | 1) => `${Buffer.byteLength(FAKE_KERNELS[entry === 0 ? 'B' : 'A'])} bytes read in`;
/** Asserts that U-Boot loaded exactly this entry's kernel after announcing it, then refused it. */
function expectTried(out: string, entry: 0 | 1): void {
  const at = out.indexOf(booting(entry));
  expect(at).toBeGreaterThanOrEqual(0);
  const after = out.slice(at);
  expect(after).toContain(kernelRead(entry));
  expect(after).not.toContain(kernelRead(entry === 0 ? 1 : 0));
  expect(after.indexOf('Bad Linux ARM64 Image magic!')).toBeGreaterThan(after.indexOf(kernelRead(entry)));
}
const exportText = (s: BootState) => `bootcount=${s.bootcount}\nbootlimit=${s.bootlimit}\nrollback=${s.rollback ? 1 : 0}\nupgrade_available=${s.upgradeAvailable ? 1 : 0}\n\0`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-uboot-vm-'));
  const deployments = await makeTwoDeploymentSysroot(dir);
  uEnv = deployments.uEnv;
  // defaultBootlimit 5 against ota.env's 3: falling back after 3 shows U-Boot took ota.env's value.
  const script = renderUbootBootScript({ arch: 'arm64', device: { interface: 'virtio', boot: '0:1', root: '0:2' }, defaultBootlimit: 5 });
  const scr = join(dir, 'boot.scr');
  await writeFile(scr, await compileUbootBootScript(script, 'arm64'));
  // Linux's side arms the counter through the backend; a stray line that would redirect the
  // boot must not reach U-Boot, which imports only the four state variables.
  envPath = join(dir, 'ota.env');
  await writeFile(envPath, '');
  const bl = ubootBackend({ envPath });
  await bl.setState(armForUpgrade(await bl.getState()));
  await appendFile(envPath, 'kernel_image=/evil\n');
  img = await makeDiskImage(join(dir, 'disk.img'), [
    { fs: 'vfat', sizeMiB: 16, label: 'BOOT', files: [{ from: scr, to: 'boot.scr' }, { from: envPath, to: 'ota.env' }] },
    { fs: 'ext4', sizeMiB: 32, label: 'root', dir: deployments.sysroot },
  ]);
}, 60_000);

afterAll(async () => {
  if (dir) await removeTree(dir);
});

describe('boot.scr under Debian U-Boot (qemu_arm64)', () => {
  let state: BootState = armForUpgrade({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });

  it('counts 1, 2, 3 while upgrade_available=1, saving ota.env before booting OSTree entry 0', async () => {
    for (const n of [1, 2, 3]) {
      const r = await boot();
      if (n === 1) {
        // Distro boot finds the script on partition 1 without any change to U-Boot's own env.
        expect(r.console).toContain('Scanning virtio 0:1...');
        expect(r.console).toContain('Found U-Boot script /boot.scr');
      }
      const expected = nextBoot(state);
      expect(expected).toMatchObject({ entry: 0, saved: true });
      expect(r.state).toEqual({ bootcount: n, upgradeAvailable: true, rollback: false, bootlimit: 3 });
      expect(r.state).toEqual(expected.state);
      // Exactly `env export -t` of the four (NUL included): the longer file Linux wrote was replaced, /evil is gone.
      expect(r.env.toString('utf8')).toBe(exportText(r.state));
      // and the same into the backup copy, which the disk did not have before the first boot
      expect(await readVfatFile(img, 0, 'ota.bak')).toEqual(r.env);
      const out = scriptPart(r.console);
      expect(out).toContain(`ota: bootcount=${n - 1} bootlimit=3 upgrade_available=1 rollback=0`);
      expect(out.indexOf('bytes written')).toBeGreaterThan(0);
      expect(out.indexOf('bytes written')).toBeLessThan(out.indexOf(booting(0)));
      expectTried(out, 0);
      expect(out).not.toContain('/evil');
      state = r.state;
    }
  });

  it('falls back to the second entry on the boot past bootlimit, recording rollback=1 upgrade_available=0', async () => {
    const r = await boot();
    expect(r.state).toEqual({ bootcount: 4, upgradeAvailable: false, rollback: true, bootlimit: 3 });
    expect(r.state).toEqual(nextBoot(state).state);
    const out = scriptPart(r.console);
    expect(out).toContain('ota: boot 4 is past bootlimit 3: falling back to the previous deployment');
    expect(out.indexOf('bytes written')).toBeLessThan(out.indexOf(booting(1)));
    expectTried(out, 1);
    expect(out).not.toContain(booting(0));
    state = r.state;
  });

  it('keeps booting the second entry while rollback=1, without counting or writing', async () => {
    const before = await readVfatFile(img, 0, 'ota.env');
    const r = await boot();
    expect(r.env).toEqual(before);
    const out = scriptPart(r.console);
    expectTried(out, 1);
    expect(out).not.toContain('bytes written');
    expect(nextBoot(state)).toEqual({ entry: 1, state, saved: false });
  });

  it('boots entry 0 and never counts while upgrade_available=0', async () => {
    // The agent after a rollback: OSTree's order fixed, then rollback cleared, through the backend.
    const bl = ubootBackend({ envPath });
    await bl.setState(markGood(clearRollback(state)));
    await writeVfatFile(img, 0, envPath, 'ota.env');
    await writeVfatFile(img, 0, join(dir, 'ota.bak'), 'ota.bak');
    const before = await readVfatFile(img, 0, 'ota.env');
    for (let i = 0; i < 2; i++) {
      const r = await boot();
      expect(r.env).toEqual(before);
      expect(r.state).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
      const out = scriptPart(r.console);
      expectTried(out, 0);
      expect(out).not.toContain('bytes written');
    }
  });

  it('boots the other entry in the same boot when the chosen one cannot be loaded, changing nothing', async () => {
    await run('remove a kernel', ['debugfs', '-w', '-R', `rm ${uEnv.get('kernel_image')}`, `${img.path}?offset=${img.offsets[1]}`]);
    const before = await readVfatFile(img, 0, 'ota.env');
    const r = await boot();
    expect(r.env).toEqual(before);
    const out = scriptPart(r.console);
    expect(out.indexOf('ota: cannot load OSTree entry 0')).toBeGreaterThan(out.indexOf(booting(0)));
    expect(out.indexOf(booting(1))).toBeGreaterThan(out.indexOf('ota: cannot load OSTree entry 0'));
    expectTried(out, 1);
    expect(out).not.toContain('bytes written');
  });

  it('reads the backup when ota.env was cut off by a power cut, and writes both copies whole again', async () => {
    const armed: BootState = { bootcount: 1, upgradeAvailable: true, rollback: false, bootlimit: 3 };
    const bl = ubootBackend({ envPath });
    await bl.setState(armed);
    await writeVfatFile(img, 0, join(dir, 'ota.bak'), 'ota.bak');
    // what a write torn after 30 bytes leaves
    await writeFile(join(dir, 'torn'), exportText({ ...armed, bootcount: 2 }).slice(0, 30));
    await writeVfatFile(img, 0, join(dir, 'torn'), 'ota.env');
    const r = await boot();
    const out = scriptPart(r.console);
    expect(out).toContain('ota: ota.env on virtio 0:1 is cut off or damaged');
    expect(out).toContain('ota: bootcount=1 bootlimit=3 upgrade_available=1 rollback=0');
    expect(r.state).toEqual(nextBoot(armed).state);
    expect(r.env.toString('utf8')).toBe(exportText({ ...armed, bootcount: 2 }));
    expect(await readVfatFile(img, 0, 'ota.bak')).toEqual(r.env);
  });

  it('takes ota.env as it is when neither copy is whole, as the backend reads it', async () => {
    await writeFile(join(dir, 'cut'), 'bootcount=2\nbootlimit=3\nrollback=1\n');
    await writeFile(join(dir, 'garbage'), Buffer.from([0xff, 0x00, 0x13, 0x37, 0x0a]));
    await writeVfatFile(img, 0, join(dir, 'cut'), 'ota.env');
    await writeVfatFile(img, 0, join(dir, 'garbage'), 'ota.bak');
    const r = await boot();
    const out = scriptPart(r.console);
    expect(out).toContain('ota: ota.env on virtio 0:1 is cut off or damaged');
    expect(out).toContain('ota: ota.bak on virtio 0:1 is cut off or damaged');
    expect(out).toContain('ota: bootcount=2 bootlimit=3 upgrade_available=0 rollback=1');
    expect(out).not.toContain('bytes written');
    expectTried(out, 1);
    // Linux's side, on the same two files, sees the state U-Boot acted on
    const local = await mkdtemp(join(dir, 'copies-'));
    await writeFile(join(local, 'ota.env'), await readVfatFile(img, 0, 'ota.env'));
    await writeFile(join(local, 'ota.bak'), await readVfatFile(img, 0, 'ota.bak'));
    expect(await ubootBackend({ envPath: join(local, 'ota.env') }).getState()).toEqual({ bootcount: 2, upgradeAvailable: false, rollback: true, bootlimit: 3 });
  });
});
