import { describe, expect, it } from 'vitest';
import { grubQuote, renderGrubConfig, splitKernelOptions, type GrubConfigOptions } from '../../../bootloader/grub/config.js';
import type { BlsEntry } from '../../../bootloader/grub/bls.js';
import { MAX_BOOTCOUNT } from '../../../bootloader/state.js';
import { OtaError } from '../../../common/errors.js';
import { rejectionOf } from '../../helpers/errors.js';

// Rendering as data. That GRUB really counts with it is proven by config.int.test.ts (grub-emu).

const bls = (n: number, extra: Partial<BlsEntry> = {}): BlsEntry => ({
  file: `ostree-${n}-debian.conf`,
  title: `debian (ostree:${n})`,
  version: String(2 - n),
  linux: `/ostree/debian-${n}/vmlinuz`,
  initrd: [`/ostree/debian-${n}/initramfs.img`],
  options: `root=LABEL=root ostree=/ostree/boot.1/debian/${n}/0`,
  devicetree: undefined,
  ...extra,
});
const opts: GrubConfigOptions = { env: { label: 'ESP', path: '/EFI/ota/grubenv' }, boot: { label: 'root', path: '/boot' } };
const lines = (s: string) => s.split('\n').map((l) => l.trim());

describe('renderGrubConfig', () => {
  it('loads and saves only the four state variables, on the labelled partition', () => {
    const l = lines(renderGrubConfig([bls(0), bls(1)], opts));
    expect(l).toContain("search --no-floppy --label --set=deb_ota_env 'ESP'");
    expect(l).toContain('load_env -f "(${deb_ota_env})/EFI/ota/grubenv" bootcount bootlimit rollback upgrade_available');
    expect(l).toContain('save_env -f "(${deb_ota_env})/EFI/ota/grubenv" bootcount bootlimit rollback upgrade_available');
  });

  it('counts by explicit comparisons (no increment module) and saves before the menu', () => {
    const s = renderGrubConfig([bls(0), bls(1)], opts);
    const l = lines(s);
    expect(l).toContain('if [ "${bootcount}" = "0" ]; then set bootcount=1');
    expect(l).toContain(`else set bootcount=${MAX_BOOTCOUNT}`);
    expect(l.filter((x) => !x.startsWith('#')).join('\n')).not.toMatch(/increment|expr/);
    expect(s.indexOf('save_env')).toBeLessThan(s.indexOf('menuentry'));
  });

  it('chooses entries by id while rolled back or not, with the other as fallback by number', () => {
    const l = lines(renderGrubConfig([bls(0), bls(1)], opts));
    const at = l.indexOf('if [ "${rollback}" = "1" ]; then');
    expect(l.slice(at, at + 7)).toEqual(['if [ "${rollback}" = "1" ]; then', 'set default=deb-ota-1', 'set fallback=0', 'else', 'set default=deb-ota-0', 'set fallback=1', 'fi']);
    const later = lines(renderGrubConfig([bls(0), bls(1)], { ...opts, firstEntryIndex: 3 }));
    expect(later).toContain('set fallback=4');
    expect(later).toContain('set fallback=3');
  });

  it('with one deployment, boots it whatever the state', () => {
    const l = lines(renderGrubConfig([bls(0)], opts));
    expect(l).toContain('set default=deb-ota-0');
    expect(l.join('\n')).not.toContain('fallback');
  });

  it('renders each BLS entry with its id, the /boot prefix and single-quoted kernel words', () => {
    const s = renderGrubConfig([bls(0, { options: 'root=LABEL=root x="a b" $notavar it\'s', devicetree: '/ostree/d/board.dtb' }), bls(1)], { ...opts, timeoutSeconds: 0 });
    expect(s).toContain(
      [
        "menuentry 'debian (ostree:0)' --id deb-ota-0 {",
        "  search --no-floppy --label --set=root 'root'",
        "  echo 'Loading debian (ostree:0)'",
        "  linux '/boot/ostree/debian-0/vmlinuz' 'root=LABEL=root' 'x=\"a b\"' '$notavar' 'it'\\''s'",
        "  initrd '/boot/ostree/debian-0/initramfs.img'",
        "  devicetree '/boot/ostree/d/board.dtb'",
        '}',
      ].join('\n'),
    );
    expect(s).toContain("menuentry 'debian (ostree:1)' --id deb-ota-1 {");
    expect(lines(s)).toContain('set timeout=0');
  });

  it('works on GRUB\'s current root when no labels are given, and for a separate /boot', () => {
    const s = renderGrubConfig([bls(0)], { env: { path: '/grub/grubenv' }, boot: { path: '' } });
    expect(s).not.toContain('search');
    expect(s).toContain('load_env -f "/grub/grubenv"');
    expect(s).toContain("linux '/ostree/debian-0/vmlinuz'");
  });

  it('finds a file system by UUID where one is given (unique where labels repeat across disks)', () => {
    const s = renderGrubConfig([bls(0)], { env: { uuid: 'ABCD-1234', path: '/EFI/ota/grubenv' }, boot: { uuid: '3c1f5a0e-1b2d-4c3e-8f40-5a6b7c8d9e0f', path: '/boot' } });
    expect(lines(s)).toContain("search --no-floppy --fs-uuid --set=deb_ota_env 'ABCD-1234'");
    expect(lines(s)).toContain("search --no-floppy --fs-uuid --set=root '3c1f5a0e-1b2d-4c3e-8f40-5a6b7c8d9e0f'");
    expect(s).not.toContain('--label');
  });

  it('refuses what it cannot render, saying which option', async () => {
    const cases: [Partial<GrubConfigOptions>, string][] = [
      [{ env: { path: 'grubenv' } }, 'env.path'],
      [{ env: { path: '/a/../b' } }, 'env.path'],
      [{ boot: { path: '/boot', label: "it's" } }, 'boot.label'],
      [{ boot: { path: '/boot', uuid: "x' y" } }, 'boot.uuid'],
      [{ env: { path: '/grubenv', uuid: 'ABCD-1234', label: 'ESP' } }, 'env names both'],
      [{ defaultBootlimit: 11 }, 'defaultBootlimit'],
      [{ timeoutSeconds: -1 }, 'timeoutSeconds'],
      [{ firstEntryIndex: -1 }, 'firstEntryIndex'],
    ];
    for (const [change, what] of cases) {
      const e = await rejectionOf(OtaError, () => renderGrubConfig([bls(0)], { ...opts, ...change }));
      expect(e.code).toBe('ERR_OTA_BOOTLOADER');
      expect(e.message).toContain(what);
    }
    expect((await rejectionOf(OtaError, () => renderGrubConfig([], opts))).message).toContain('no OSTree boot entries');
  });
});

describe('quoting', () => {
  it('single-quotes for GRUB and splits kernel options as the kernel does', () => {
    expect(grubQuote("a'b")).toBe("'a'\\''b'");
    expect(splitKernelOptions(' root=/dev/vda2  x="a b" quiet ')).toEqual(['root=/dev/vda2', 'x="a b"', 'quiet']);
  });
});
