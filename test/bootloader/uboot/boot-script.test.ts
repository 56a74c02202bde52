import { describe, expect, it } from 'vitest';
import { renderUbootBootScript, type UbootBootScriptOptions } from '../../../bootloader/uboot/boot-script.js';
import { MAX_BOOTCOUNT, MAX_BOOTLIMIT } from '../../../bootloader/state.js';
import { OtaError } from '../../../common/errors.js';
import { rejectionOf } from '../../helpers/errors.js';

// The script as text: what it must contain for the board's parameters and in which order. That
// it really counts is proven by boot-script.int.test.ts, which runs it in Debian's U-Boot.

const qemu: UbootBootScriptOptions = { arch: 'arm64', device: { interface: 'virtio', boot: '0:1', root: '0:2' } };
const lines = (s: string) => s.split('\n').map((l) => l.trim());

describe('renderUbootBootScript', () => {
  it('reads uEnv.txt from the root partition and the state from the boot partition, only the four variables', () => {
    const s = renderUbootBootScript(qemu);
    expect(s).toContain('if ext4load virtio 0:2 ${ota_addr} /boot/loader/uEnv.txt; then');
    expect(s).toContain('if fatload virtio 0:1 ${ota_addr} ota.env; then');
    expect(s).toContain('env import -t ${ota_addr} ${filesize} bootcount bootlimit rollback upgrade_available');
    expect(s.indexOf('/boot/loader/uEnv.txt')).toBeLessThan(s.indexOf('fatload'));
  });

  it('saves the count with env export + fatwrite, ota.env then its backup, before loading any kernel', () => {
    const s = renderUbootBootScript(qemu);
    const write = s.indexOf('fatwrite virtio 0:1 ${ota_addr} ota.env ${ota_size}');
    const backup = s.indexOf('fatwrite virtio 0:1 ${ota_addr} ota.bak ${ota_size}');
    expect(s.indexOf('env export -t ${ota_addr} bootcount bootlimit rollback upgrade_available')).toBeLessThan(write);
    expect(write).toBeGreaterThan(0);
    expect(backup).toBeGreaterThan(write);
    expect(backup).toBeLessThan(s.indexOf('ext4load virtio 0:2 ${kernel_addr_r}'));
  });

  it('reads the first whole copy (upgrade_available 0 or 1), ota.env before ota.bak, else ota.env as it is', () => {
    const l = lines(renderUbootBootScript(qemu));
    expect(l).toContain('for ota_file in ota.env ota.bak; do');
    expect(l).toContain('if test "${upgrade_available}" = 0 || test "${upgrade_available}" = 1; then setenv ota_state 1; else echo "ota: ${ota_file} on virtio 0:1 is cut off or damaged"; fi');
    expect(l.indexOf('for ota_file in ota.env ota.bak; do')).toBeLessThan(l.indexOf('if test "${ota_state}" = 0; then'));
  });

  it('increments in decimal by comparisons up to MAX_BOOTCOUNT, and saturates anything else', () => {
    const l = lines(renderUbootBootScript(qemu));
    expect(l).toContain('if test "${bootcount}" = 0; then setenv bootcount 1');
    expect(l).toContain(`elif test "\${bootcount}" = ${MAX_BOOTCOUNT - 2}; then setenv bootcount ${MAX_BOOTCOUNT - 1}`);
    expect(l).toContain(`else setenv bootcount ${MAX_BOOTCOUNT}`);
    expect(renderUbootBootScript(qemu)).not.toContain('setexpr');
    expect(l).toContain(`for n in ${Array.from({ length: MAX_BOOTLIMIT }, (_, i) => i + 1).join(' ')}; do if test "\${bootlimit}" = "\${n}"; then setenv ota_ok 1; fi; done`);
  });

  it('boots with booti on arm64 and bootz on armhf, at the given addresses', () => {
    expect(renderUbootBootScript(qemu)).toContain('booti ${kernel_addr_r} ${ota_rd} ${ota_fdt}');
    const arm = renderUbootBootScript({ ...qemu, arch: 'armhf', kernelAddr: '0x82000000', ramdiskAddr: '0x88080000', fdtAddr: '0x88000000' });
    expect(arm).toContain('bootz 0x82000000 ${ota_rd} ${ota_fdt}');
    expect(arm).toContain('setenv ota_rd 0x88080000:${filesize}');
    expect(arm).not.toMatch(/\bbooti\b/);
  });

  it('takes the board\'s device names, env file and default bootlimit', () => {
    const s = renderUbootBootScript({ arch: 'arm64', device: { interface: 'mmc', boot: '1:a', root: '1:b' }, envFile: 'ota/state.env', defaultBootlimit: 5 });
    expect(s).toContain('fatload mmc 1:a ${ota_addr} ota/state.env');
    expect(s).toContain('for ota_file in ota/state.env ota/state.bak; do');
    expect(s).toContain('ext4load mmc 1:b ${ota_addr} /boot/loader/uEnv.txt');
    expect(s).toContain('setenv bootlimit 5; fi');
  });

  it('picks entry 1 first while rolled back and otherwise tries the other entry only after a load failure', () => {
    const s = renderUbootBootScript(qemu);
    expect(s).toContain('if test "${rollback}" = 1; then setenv ota_order "1 0"; else setenv ota_order "0 1"; fi');
    for (const v of ['kernel_image', 'ramdisk_image', 'bootargs', 'fdt_file', 'fdtdir']) expect(s).toContain(`setenv ota_${v} "\${${v}2}"`);
    // A kernel that loads but does not start resets (and is counted next boot); it is not retried.
    expect(lines(s).slice(lines(s).indexOf('booti ${kernel_addr_r} ${ota_rd} ${ota_fdt}') + 1, -1).slice(0, 2)).toEqual([
      'echo "ota: OSTree entry ${ota_entry} did not boot; resetting"',
      'reset',
    ]);
  });

  it('refuses options U-Boot could not use, saying which', async () => {
    const cases: [Partial<UbootBootScriptOptions>, string][] = [
      [{ arch: 'amd64' as 'arm64' }, 'arch'],
      [{ device: { interface: 'virtio 0', boot: '0:1', root: '0:2' } }, 'interface'],
      [{ device: { interface: 'mmc', boot: '0', root: '0:2' } }, 'boot partition'],
      [{ device: { interface: 'mmc', boot: '0:1', root: '0:2;reset' } }, 'root partition'],
      [{ envFile: '../ota.env' }, 'env file'],
      [{ envFile: 'ota env' }, 'env file'],
      [{ defaultBootlimit: 0 }, 'defaultBootlimit'],
      [{ defaultBootlimit: MAX_BOOTLIMIT + 1 }, 'defaultBootlimit'],
      [{ kernelAddr: '$(reset)' }, 'load address'],
    ];
    for (const [change, what] of cases) {
      const e = await rejectionOf(OtaError, () => renderUbootBootScript({ ...qemu, ...change }));
      expect(e.code).toBe('ERR_OTA_BOOTLOADER');
      expect(e.message).toContain(what);
    }
  });
});
