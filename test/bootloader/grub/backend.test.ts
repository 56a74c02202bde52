import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { grubBackend } from '../../../bootloader/grub/backend.js';
import { readGrubEnv, writeGrubEnv } from '../../../bootloader/grub/env.js';
import { armForUpgrade, markGood } from '../../../bootloader/state.js';
import { otaRejection } from '../../helpers/errors.js';

let dir: string;
let envPath: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-grub-backend-'));
  envPath = join(dir, 'grubenv');
});

describe('grubBackend', () => {
  it('reads the state GRUB saved, with the same names and rules as U-Boot', async () => {
    await writeGrubEnv(envPath, new Map([['saved_entry', 'x'], ['bootcount', '4'], ['bootlimit', '3'], ['rollback', '1'], ['upgrade_available', '0']]));
    const bl = grubBackend({ envPath });
    expect(await bl.getState()).toEqual({ bootcount: 4, upgradeAvailable: false, rollback: true, bootlimit: 3 });
    expect(await bl.getPrimary()).toBe(1);
  });

  it('keeps other variables where they are, as grub-editenv does, and adds missing ones last', async () => {
    await writeGrubEnv(envPath, new Map([['bootcount', '3'], ['saved_entry', 'x'], ['upgrade_available', '1']]));
    const bl = grubBackend({ envPath });
    await bl.setState(markGood(await bl.getState()));
    expect([...(await readGrubEnv(envPath))]).toEqual([
      ['bootcount', '0'],
      ['saved_entry', 'x'],
      ['upgrade_available', '0'],
      ['bootlimit', '3'],
      ['rollback', '0'],
    ]);
  });

  it('sets and reads back the primary', async () => {
    await writeGrubEnv(envPath, new Map());
    const bl = grubBackend({ envPath, defaultBootlimit: 2 });
    await bl.setState(armForUpgrade(await bl.getState()));
    expect(await bl.setPrimary(1)).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: true, bootlimit: 2 });
    expect(await bl.getPrimary()).toBe(1);
    await bl.setPrimary(0);
    expect(await bl.getPrimary()).toBe(0);
  });

  it('fails on a missing grubenv instead of creating one', async () => {
    const e = await otaRejection(grubBackend({ envPath }).setState({ bootcount: 0 }));
    expect(e.message).toMatch(/^grub boot state, writing: /);
    expect(e.message).toContain(envPath);
    expect(await readdir(dir)).toEqual([]);
  });
});
