import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { formatFwEnvConfig, layoutFromFwEnvConfig, parseFwEnvConfig } from '../../../bootloader/uboot/fw-env-config.js';
import { rejectionOf } from '../../helpers/errors.js';

const src = 'boards/test/fw_env.config';

describe('parseFwEnvConfig', () => {
  it('reads device, offset, size and the optional sector fields, skipping comments and blank lines', () => {
    const text = '# MMC\n\n  # indented comment\n/dev/mmcblk0\t0x3f8000  0x4000 0x200 # env\n/dev/mmcblk0 4161536 4000 200 2\n';
    expect(parseFwEnvConfig(text, src)).toEqual([
      { device: '/dev/mmcblk0', offset: 0x3f8000, envSize: 0x4000, sectorSize: 0x200, sectors: undefined, line: 4 },
      { device: '/dev/mmcblk0', offset: 4161536, envSize: 0x4000, sectorSize: 0x200, sectors: 2, line: 5 },
    ]);
  });

  it('reads the offset as a C integer but the sizes as hexadecimal, as libubootenv does', () => {
    const [e] = parseFwEnvConfig('uboot.env 010 1000\n', src);
    expect(e?.offset).toBe(8);
    expect(e?.envSize).toBe(0x1000);
    expect(parseFwEnvConfig('x 4096 4096', src)[0]?.envSize).toBe(0x4096);
  });

  it.each([
    ['x 0', 'at least a device, an offset'],
    ['x -0x1000 0x1000', 'offset "-0x1000"'],
    ['x 08 0x1000', 'offset "08"'],
    ['x 0 4k', 'environment size "4k"'],
    ['x 0 0', 'environment size "0"'],
    ['x 0 0x1000 zz', 'sector size "zz"'],
    ['x 0 0x1000 0x200 1 extra', 'unexpected "extra"'],
  ])('refuses %j, naming the field and the line', async (line, what) => {
    const e = await rejectionOf(OtaError, () => parseFwEnvConfig(`# first\n${line}\n`, src));
    expect(e.code).toBe('ERR_OTA_BOOTENV');
    expect(e.message).toContain(what);
    expect(e.message).toContain(`${src}:2`);
  });
});

describe('layoutFromFwEnvConfig', () => {
  it('makes one raw copy per line', () => {
    expect(layoutFromFwEnvConfig('img 0x2000 0x1000\nimg 0x6000 0x1000\n', src)).toEqual({
      envSize: 0x1000,
      copies: [{ kind: 'raw', path: 'img', offset: 0x2000 }, { kind: 'raw', path: 'img', offset: 0x6000 }],
    });
  });

  it.each([
    ['# nothing\n', 'no environment copies'],
    ['a 0 0x1000\nb 0 0x1000\nc 0 0x1000\n', '3 environment copies'],
    ['a 0 0x1000\nb 0 0x800\n', 'different sizes'],
    ['a 0 4\n', 'leaves no room'],
  ])('refuses a config U-Boot cannot have: %j', async (text, what) => {
    const e = await rejectionOf(OtaError, () => layoutFromFwEnvConfig(text, src));
    expect(e.message).toContain(what);
    expect(e.message).toContain(src);
  });

  it('reads back what formatFwEnvConfig writes', () => {
    const layout = { envSize: 0x20000, copies: [{ kind: 'raw', path: '/dev/mmcblk1', offset: 0x400000 }, { kind: 'raw', path: '/dev/mmcblk1', offset: 0x420000 }] } as const;
    expect(layoutFromFwEnvConfig(formatFwEnvConfig(layout, 0x200), src)).toEqual(layout);
    expect(parseFwEnvConfig(formatFwEnvConfig(layout, 0x200), src).map((e) => e.sectorSize)).toEqual([0x200, 0x200]);
  });
});
