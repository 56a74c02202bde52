import { describe, expect, it } from 'vitest';
import { backupEnvPath, isWholeCopy } from '../../../bootloader/uboot/env-copies.js';

describe('the two copies of ota.env', () => {
  it('names the backup by replacing the extension with .bak (an 8.3 name for ota.env)', () => {
    expect(backupEnvPath('ota.env')).toBe('ota.bak');
    expect(backupEnvPath('ota/state.env')).toBe('ota/state.bak');
    expect(backupEnvPath('/boot/firmware/ota.env')).toBe('/boot/firmware/ota.bak');
    expect(backupEnvPath('otaenv')).toBe('otaenv.bak');
    expect(backupEnvPath('dir.d/otaenv')).toBe('dir.d/otaenv.bak');
    expect(backupEnvPath('.env')).toBe('.env.bak');
  });

  it('calls a copy whole when upgrade_available, written last, is 0 or 1', () => {
    expect(isWholeCopy(new Map([['bootcount', '0'], ['upgrade_available', '0']]))).toBe(true);
    expect(isWholeCopy(new Map([['upgrade_available', '1']]))).toBe(true);
    expect(isWholeCopy(new Map([['bootcount', '2'], ['bootlimit', '3'], ['rollback', '1']]))).toBe(false);
    expect(isWholeCopy(new Map([['upgrade_available', '']]))).toBe(false);
    expect(isWholeCopy(new Map([['upgrade_available', 'true']]))).toBe(false);
  });
});
