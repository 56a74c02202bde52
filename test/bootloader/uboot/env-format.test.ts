import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { encodeUbootEnvCopy, inspectUbootEnvCopy, parseUbootEnvData } from '../../../bootloader/uboot/env-format.js';
import { rejectionOf } from '../../helpers/errors.js';

const where = 'test.env';
const tricky = new Map([
  ['zeta', 'last'],
  ['bootcmd', 'run a; run b'],
  ['eq', 'x=y=z'],
  ['nl', 'line1\nline2'],
  ['bs', 'C:\\path\\'],
  ['utf8', 'grüße ✓'],
  ['Upper', 'sorts before lower case'],
  ['empty', ''],
]);

function otaError(fn: () => unknown): Promise<OtaError> {
  return rejectionOf(OtaError, fn);
}

describe('encodeUbootEnvCopy / parseUbootEnvData', () => {
  for (const redundant of [false, true]) {
    it(`round-trips names and values with newlines, backslashes, = and UTF-8 (${redundant ? 'redundant' : 'single'})`, () => {
      const bytes = encodeUbootEnvCopy(tricky, { envSize: 0x400, redundant, counter: 9, where });
      expect(bytes.length).toBe(0x400);
      expect(inspectUbootEnvCopy(bytes, redundant)).toEqual({ crcOk: true, counter: redundant ? 9 : 0 });
      expect(parseUbootEnvData(bytes, redundant, where)).toEqual(tricky);
    });
  }

  it('lays a copy out as CRC (little-endian, over the data area), flags byte, sorted pairs, NUL, zero padding', () => {
    const bytes = encodeUbootEnvCopy(new Map([['b', '2'], ['a', '1']]), { envSize: 64, redundant: true, counter: 0xfe, where });
    expect(bytes.readUInt32LE(0)).toBe(crc32(bytes.subarray(5)));
    expect(bytes[4]).toBe(0xfe);
    expect(bytes.subarray(5, 5 + 9).toString('latin1')).toBe('a=1\0b=2\0\0');
    expect(bytes.subarray(14).every((b) => b === 0)).toBe(true);
  });

  it('sorts names by bytes, as strcmp does, not by locale', () => {
    const bytes = encodeUbootEnvCopy(new Map([['b', ''], ['a', ''], ['B', ''], ['_', '']]), { envSize: 64, redundant: false, where });
    const names = [...parseUbootEnvData(bytes, false, where).keys()];
    expect(names).toEqual(['B', '_', 'a', 'b']);
  });

  it('sees a changed data byte or a changed CRC as a bad CRC', () => {
    const good = encodeUbootEnvCopy(new Map([['a', '1']]), { envSize: 64, redundant: true, counter: 3, where });
    const dataFlip = Buffer.from(good);
    dataFlip[40] = 1;
    const crcFlip = Buffer.from(good);
    crcFlip[0] = (crcFlip[0] ?? 0) ^ 1;
    expect(inspectUbootEnvCopy(dataFlip, true)).toEqual({ crcOk: false, counter: 3 });
    expect(inspectUbootEnvCopy(crcFlip, true).crcOk).toBe(false);
  });

  it('accepts variables that fill the area up to the closing NUL and refuses one byte more, naming the sizes', async () => {
    const envSize = 64;
    const fits = 'x'.repeat(envSize - 5 - 'v='.length - 2); // header, "v=", its NUL, closing NUL
    const bytes = encodeUbootEnvCopy(new Map([['v', fits]]), { envSize, redundant: true, where });
    expect(bytes[envSize - 1]).toBe(0);
    expect(parseUbootEnvData(bytes, true, where).get('v')).toBe(fits);
    const e = await otaError(() => encodeUbootEnvCopy(new Map([['v', `${fits}x`]]), { envSize, redundant: true, where }));
    expect(e.code).toBe('ERR_OTA_BOOTENV');
    expect(e.message).toContain(`needs ${envSize - 5 + 1} bytes`);
    expect(e.message).toContain(`holds ${envSize - 5}`);
    expect(e.message).toContain(where);
  });

  it.each([
    ['a=b', 'x', '`=` in its name'],
    ['', 'x', 'empty name'],
    ['a\0b', 'x', 'NUL or newline in its name'],
    ['a\nb', 'x', 'NUL or newline in its name'],
    ['#a', 'x', 'starts with `#`'],
    [' a', 'x', 'starts with `#`, a space'],
    ['a', 'x\0y', 'NUL in its value'],
  ])('refuses variable %j = %j, saying what is wrong with it and where', async (name, value, what) => {
    const e = await otaError(() => encodeUbootEnvCopy(new Map([[name, value]]), { envSize: 64, redundant: false, where }));
    expect(e.code).toBe('ERR_OTA_BOOTENV');
    expect(e.message).toContain(what);
    expect(e.message).toContain(JSON.stringify(name));
    expect(e.message).toContain(where);
    expect(e.hint).toBeTruthy();
  });
});

describe('parseUbootEnvData', () => {
  function raw(data: string, envSize = 64): Buffer {
    const buf = Buffer.alloc(envSize);
    buf.write(data, 4, 'latin1');
    buf.writeUInt32LE(crc32(buf.subarray(4)), 0);
    return buf;
  }

  it('skips entries without `=`, keeps `name=` as empty and lets a later duplicate win, as libubootenv does', () => {
    const vars = parseUbootEnvData(raw('junk\0a=1\0e=\0a=2\0\0'), false, where);
    expect(vars).toEqual(new Map([['a', '2'], ['e', '']]));
  });

  it('stops at the first empty entry and ignores what follows', () => {
    expect(parseUbootEnvData(raw('a=1\0\0b=2\0\0'), false, where)).toEqual(new Map([['a', '1']]));
  });

  it('refuses a copy whose pairs run to the end of the area without the closing NUL', async () => {
    const full = raw(`a=${'x'.repeat(64 - 4 - 2)}`);
    const e = await otaError(() => parseUbootEnvData(full, false, where));
    expect(e.message).toContain('without the closing NUL');
    expect(e.message).toContain(where);
  });
});
