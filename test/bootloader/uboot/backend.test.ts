import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { ubootBackend } from '../../../bootloader/uboot/backend.js';
import { armForUpgrade, markGood } from '../../../bootloader/state.js';
import { otaRejection } from '../../helpers/errors.js';

let dir: string;
let envPath: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-uboot-backend-'));
  envPath = join(dir, 'ota.env');
});

describe('ubootBackend', () => {
  it('reads what U-Boot writes (`env export -t`, NUL-terminated)', async () => {
    await writeFile(envPath, 'bootcount=2\nbootlimit=3\nrollback=0\nupgrade_available=1\n\0');
    const bl = ubootBackend({ envPath });
    expect(await bl.getState()).toEqual({ bootcount: 2, upgradeAvailable: true, rollback: false, bootlimit: 3 });
    expect(await bl.getPrimary()).toBe(0);
  });

  it('writes exactly the four variables U-Boot imports, atomically, dropping anything else', async () => {
    await writeFile(envPath, '# made by the image build\nbootlimit=5\nkernel_image=/evil\n');
    const bl = ubootBackend({ envPath });
    const written = await bl.setState(armForUpgrade(await bl.getState()));
    expect(written).toEqual({ bootcount: 0, upgradeAvailable: true, rollback: false, bootlimit: 5 });
    expect(await readFile(envPath, 'utf8')).toBe('bootcount=0\nbootlimit=5\nrollback=0\nupgrade_available=1\n');
    // and the backup copy, the same
    expect(await readFile(join(dir, 'ota.bak'), 'utf8')).toBe('bootcount=0\nbootlimit=5\nrollback=0\nupgrade_available=1\n');
    expect(await readdir(dir)).toEqual(['ota.bak', 'ota.env']);
  });

  it('reads the backup when ota.env is cut off (a power cut mid-write), as the boot script does', async () => {
    await writeFile(join(dir, 'ota.bak'), 'bootcount=1\nbootlimit=3\nrollback=0\nupgrade_available=1\n');
    await writeFile(envPath, 'bootcount=2\nbootlimit=3\nrollb');
    const bl = ubootBackend({ envPath });
    expect(await bl.getState()).toEqual({ bootcount: 1, upgradeAvailable: true, rollback: false, bootlimit: 3 });
    // a write makes both whole again
    await bl.setState({ bootcount: 0 });
    for (const f of ['ota.env', 'ota.bak']) expect(await readFile(join(dir, f), 'utf8')).toBe('bootcount=0\nbootlimit=3\nrollback=0\nupgrade_available=1\n');
  });

  it('takes ota.env as it is when neither copy is whole, and works with only the backup left', async () => {
    await writeFile(envPath, 'bootcount=2\nrollback=1\n');
    await writeFile(join(dir, 'ota.bak'), 'bootc');
    expect(await ubootBackend({ envPath }).getState()).toEqual({ bootcount: 2, upgradeAvailable: false, rollback: true, bootlimit: 3 });
    await rm(envPath);
    await writeFile(join(dir, 'ota.bak'), 'bootcount=3\nbootlimit=3\nrollback=0\nupgrade_available=1\n');
    const bl = ubootBackend({ envPath });
    expect(await bl.getState()).toEqual({ bootcount: 3, upgradeAvailable: true, rollback: false, bootlimit: 3 });
    await bl.setState({ bootcount: 0, upgradeAvailable: false });
    expect(await readdir(dir)).toEqual(['ota.bak', 'ota.env']);
  });

  it('takes the board default bootlimit when ota.env has none', async () => {
    await writeFile(envPath, '');
    expect((await ubootBackend({ envPath, defaultBootlimit: 4 }).getState()).bootlimit).toBe(4);
  });

  it('sets and reads back the primary', async () => {
    await writeFile(envPath, 'bootcount=1\nupgrade_available=1\n');
    const bl = ubootBackend({ envPath });
    expect(await bl.setPrimary(1)).toEqual({ bootcount: 1, upgradeAvailable: false, rollback: true, bootlimit: 3 });
    expect(await bl.getPrimary()).toBe(1);
    expect(await bl.setPrimary(0)).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
    expect(await bl.getPrimary()).toBe(0);
  });

  it('refuses to create ota.env where none is (an unmounted boot partition), saying what to check', async () => {
    const bl = ubootBackend({ envPath });
    const e = await otaRejection(bl.setState(markGood(armForUpgrade({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 }))));
    expect(e.message).toMatch(/^uboot boot state, writing: cannot read U-Boot text environment/);
    expect(e.message).toContain(envPath);
    expect(e.hint).toContain('mounted');
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports a damaged value with the file, and repairs it when told all fields', async () => {
    await writeFile(envPath, 'bootcount=1\nupgrade_available=true\n');
    const bl = ubootBackend({ envPath });
    const e = await otaRejection(bl.getState());
    expect(e.code).toBe('ERR_OTA_BOOTLOADER');
    expect(e.message).toContain('upgrade_available');
    expect(e.message).toContain(envPath);
    await bl.setState({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
    expect(await bl.getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
  });
});
