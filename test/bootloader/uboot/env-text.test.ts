import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { formatUbootEnvText, parseUbootEnvText, readUbootEnvText, writeUbootEnvText } from '../../../bootloader/uboot/env-text.js';
import { otaRejection, rejectionOf } from '../../helpers/errors.js';

const where = 'ota.env';

describe('formatUbootEnvText', () => {
  it('writes sorted name=value lines, as `env export -t` does', () => {
    expect(formatUbootEnvText(new Map([['upgrade_available', '1'], ['bootcount', '2']]), where)).toBe('bootcount=2\nupgrade_available=1\n');
  });

  it('escapes backslash and newline so that `env import -t` reads the value back exactly', () => {
    const vars = new Map([['a', 'x\\y'], ['b', 'line1\nline2'], ['c', 'ends in \\'], ['d', ' lead and trail '], ['e', '#not a comment']]);
    const text = formatUbootEnvText(vars, where);
    expect(text).toContain('b=line1\\\nline2\n');
    expect(parseUbootEnvText(text, where)).toEqual(vars);
  });

  it('writes an empty value as `name=`, which import reads as deleting it', () => {
    const text = formatUbootEnvText(new Map([['rollback', ''], ['bootcount', '0']]), where);
    expect(text).toBe('bootcount=0\nrollback=\n');
    expect(parseUbootEnvText(text, where)).toEqual(new Map([['bootcount', '0']]));
  });

  it('refuses names U-Boot would misread, saying which and where', async () => {
    for (const name of ['a=b', '#c', '\tt', 'n\nl', '']) {
      const e = await rejectionOf(OtaError, () => formatUbootEnvText(new Map([[name, '1']]), where));
      expect(e.code).toBe('ERR_OTA_BOOTENV');
      expect(e.message).toContain(JSON.stringify(name));
      expect(e.message).toContain(where);
    }
  });
});

describe('parseUbootEnvText', () => {
  it('reads lines as himport_r does: blanks skipped, # comments, `name` or `name=` deletes an earlier value', () => {
    const text = '# state\n  bootcount=3\n\tx=1\nx\ny=2\ny=\nz = spaced\n\nlast=no newline';
    expect(parseUbootEnvText(text, where)).toEqual(new Map([['bootcount', '3'], ['z ', ' spaced'], ['last', 'no newline']]));
  });

  it('takes a backslash as "next character literally", keeping a lone trailing one', () => {
    expect(parseUbootEnvText('a=\\q\\\\\nb=tail\\', where)).toEqual(new Map([['a', 'q\\'], ['b', 'tail\\']]));
  });

  it('stops at a NUL, as import without a size does', () => {
    expect(parseUbootEnvText('a=1\n\0b=2\n', where)).toEqual(new Map([['a', '1']]));
  });

  it('refuses a value without a name, because U-Boot then rejects the whole file', async () => {
    const e = await rejectionOf(OtaError, () => parseUbootEnvText('a=1\n=oops\n', where));
    expect(e.message).toContain('line 2');
    expect(e.message).toContain(where);
  });
});

describe('readUbootEnvText / writeUbootEnvText', () => {
  it('replaces the file atomically and reads it back, leaving no temp file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-envtext-'));
    const path = join(dir, 'ota.env');
    await writeFile(path, 'bootcount=9\n');
    await writeUbootEnvText(path, new Map([['bootcount', '1'], ['upgrade_available', '1']]));
    expect(await readFile(path, 'utf8')).toBe('bootcount=1\nupgrade_available=1\n');
    expect(await readUbootEnvText(path)).toEqual(new Map([['bootcount', '1'], ['upgrade_available', '1']]));
    expect(await readdir(dir)).toEqual(['ota.env']);
  });

  it('says which file is missing and what to check', async () => {
    const e = await otaRejection(readUbootEnvText('/nonexistent/ota.env'));
    expect(e.message).toContain('/nonexistent/ota.env');
    expect(e.hint).toContain('mounted');
  });
});
