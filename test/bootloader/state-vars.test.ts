import { describe, expect, it } from 'vitest';
import { bootStateFromVars, bootStateToVars, mergeBootState } from '../../bootloader/state-vars.js';
import { OtaError } from '../../common/errors.js';
import { rejectionOf } from '../helpers/errors.js';

const where = 'ota.env';
const vars = (o: Record<string, string>) => new Map(Object.entries(o));

describe('bootStateFromVars', () => {
  it('reads missing variables as the boot scripts do: 0, or the default bootlimit', () => {
    expect(bootStateFromVars(new Map(), where)).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
    expect(bootStateFromVars(new Map(), where, 5).bootlimit).toBe(5);
  });

  it('reads what U-Boot exports, ignoring other variables', () => {
    const v = vars({ bootcount: '4', bootlimit: '3', rollback: '1', upgrade_available: '0', kernel_image: '/evil' });
    expect(bootStateFromVars(v, where)).toEqual({ bootcount: 4, upgradeAvailable: false, rollback: true, bootlimit: 3 });
  });

  it('refuses spellings the scripts would misread, naming the variable, the value and the file', async () => {
    for (const [name, value] of [
      ['upgrade_available', 'yes'],
      ['rollback', 'true'],
      ['bootcount', '01'],
      ['bootcount', 'a'],
      ['bootcount', '12'],
      ['bootlimit', '0'],
      ['bootlimit', '11'],
      ['bootlimit', ' 3'],
    ] as const) {
      const e = await rejectionOf(OtaError, () => bootStateFromVars(vars({ [name]: value }), where));
      expect(e.code).toBe('ERR_OTA_BOOTLOADER');
      expect(e.message).toContain(name);
      expect(e.message).toContain(JSON.stringify(value));
      expect(e.message).toContain(where);
      expect(e.hint).toBeTruthy();
    }
  });
});

describe('bootStateToVars', () => {
  it('writes the four variables, sorted as `env export -t` sorts them, flags as 0/1', () => {
    const v = bootStateToVars({ bootcount: 2, upgradeAvailable: true, rollback: false, bootlimit: 3 });
    expect([...v]).toEqual([
      ['bootcount', '2'],
      ['bootlimit', '3'],
      ['rollback', '0'],
      ['upgrade_available', '1'],
    ]);
  });
});

describe('mergeBootState', () => {
  it('changes only the given fields', () => {
    const v = vars({ bootcount: '2', bootlimit: '5', rollback: '0', upgrade_available: '1' });
    expect(mergeBootState(v, { upgradeAvailable: false }, where)).toEqual({ bootcount: 2, upgradeAvailable: false, rollback: false, bootlimit: 5 });
  });

  it('repairs a damaged variable by setting it, and refuses to keep one it does not set', async () => {
    const damaged = vars({ bootcount: 'x', upgrade_available: '1' });
    expect(mergeBootState(damaged, { bootcount: 0 }, where)).toEqual({ bootcount: 0, upgradeAvailable: true, rollback: false, bootlimit: 3 });
    const e = await rejectionOf(OtaError, () => mergeBootState(damaged, { rollback: false }, where));
    expect(e.message).toContain('bootcount');
  });

  it('checks the result', async () => {
    const e = await rejectionOf(OtaError, () => mergeBootState(new Map(), { bootlimit: 0 }, where));
    expect(e.message).toContain('bootlimit');
  });
});
