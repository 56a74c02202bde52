import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { formatGrubEnv, GRUBENV_HEADER, GRUBENV_SIZE, parseGrubEnv, readGrubEnv, updateGrubEnv, writeGrubEnv } from '../../../bootloader/grub/env.js';
import { otaRejection, rejectionOf } from '../../helpers/errors.js';

const where = 'grubenv';
const tricky = new Map([
  ['zeta', 'first in, first out'],
  ['boot_counter', '3'],
  ['bs', 'C:\\dir\\'],
  ['nl', 'one\ntwo\n'],
  ['eq', 'a=b'],
  ['hash', '#not a comment'],
  ['utf8', 'grüße ✓'],
  ['empty', ''],
]);

describe('formatGrubEnv', () => {
  it('makes a 1024-byte block: header, name=value lines in order, # padding', () => {
    const block = formatGrubEnv(new Map([['b', '2'], ['a', '1']]), where);
    expect(block.length).toBe(GRUBENV_SIZE);
    const body = `${GRUBENV_HEADER}b=2\na=1\n`;
    expect(block.subarray(0, body.length).toString()).toBe(body);
    expect(block.subarray(body.length).every((c) => c === '#'.charCodeAt(0))).toBe(true);
  });

  it('puts a backslash before a backslash or a newline in a value', () => {
    const block = formatGrubEnv(new Map([['v', 'a\\b\nc']]), where).toString();
    expect(block).toContain('v=a\\\\b\\\nc\n');
  });

  it('round-trips awkward values and keeps the order', () => {
    const back = parseGrubEnv(formatGrubEnv(tricky, where), where);
    expect(back).toEqual(tricky);
    expect([...back.keys()]).toEqual([...tricky.keys()]);
  });

  it('fills the block to the last byte and refuses one byte more, naming the sizes', async () => {
    const room = GRUBENV_SIZE - GRUBENV_HEADER.length - 'v=\n'.length;
    const full = formatGrubEnv(new Map([['v', 'x'.repeat(room)]]), where);
    expect(full.toString().endsWith('x\n')).toBe(true);
    expect(parseGrubEnv(full, where).get('v')).toHaveLength(room);
    // An escaped character costs two bytes.
    const e = await rejectionOf(OtaError, () => formatGrubEnv(new Map([['v', `${'x'.repeat(room - 1)}\\`]]), where));
    expect(e.code).toBe('ERR_OTA_BOOTENV');
    expect(e.message).toContain(`needs ${GRUBENV_SIZE + 1} bytes`);
    expect(e.message).toContain(where);
  });

  it.each([
    ['a=b', '`=` in its name'],
    ['', 'empty name'],
    ['a\nb', 'newline or NUL'],
    ['#x', 'starts with `#`'],
  ])('refuses the name %j, saying why and where', async (name, what) => {
    const e = await rejectionOf(OtaError, () => formatGrubEnv(new Map([[name, '1']]), where));
    expect(e.message).toContain(what);
    expect(e.message).toContain(where);
  });
});

describe('parseGrubEnv', () => {
  const block = (body: string) => Buffer.from((GRUBENV_HEADER + body).padEnd(GRUBENV_SIZE, '#'));

  it('skips comment lines, unescapes values and lets a later duplicate win', () => {
    const vars = parseGrubEnv(block('# WARNING: Do not edit\na=1\nb=x\\\\y\\\nz\na=2\n'), where);
    expect(vars).toEqual(new Map([['a', '2'], ['b', 'x\\y\nz']]));
  });

  it('refuses a block without the GRUB header, with the way to recreate it', async () => {
    const e = await rejectionOf(OtaError, () => parseGrubEnv(Buffer.from('a=1\n'.padEnd(GRUBENV_SIZE, '#')), where));
    expect(e.message).toContain('not a GRUB environment block');
    expect(e.hint).toContain(`grub-editenv ${where} create`);
  });

  it('refuses a damaged block (a line without `=`, or a value cut by the end of the file) and says where', async () => {
    const noEq = await rejectionOf(OtaError, () => parseGrubEnv(Buffer.from(`${GRUBENV_HEADER}a=1\nbroken`), where));
    expect(noEq.message).toContain(`damaged at byte ${GRUBENV_HEADER.length + 4}`);
    const cut = await rejectionOf(OtaError, () => parseGrubEnv(Buffer.from(`${GRUBENV_HEADER}a=unterminated`), where));
    expect(cut.message).toContain(`damaged at byte ${GRUBENV_HEADER.length}`);
  });
});

describe('readGrubEnv / writeGrubEnv / updateGrubEnv', () => {
  it('changes in place, appends new names, deletes, and replaces the file by rename', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-grubenv-'));
    const path = join(dir, 'grubenv');
    await writeGrubEnv(path, new Map([['a', '1'], ['b', '2'], ['c', '3']]));
    const inode = (await stat(path)).ino;
    const vars = await updateGrubEnv(path, { b: 'two', d: '4', a: null });
    expect([...vars]).toEqual([['b', 'two'], ['c', '3'], ['d', '4']]);
    expect([...(await readGrubEnv(path))]).toEqual([...vars]);
    expect((await stat(path)).ino).not.toBe(inode);
    expect((await readFile(path)).length).toBe(GRUBENV_SIZE);
    expect(await readdir(dir)).toEqual(['grubenv']);
  });

  it('leaves the file alone when the new variables do not fit', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'ota-grubenv-')), 'grubenv');
    await writeGrubEnv(path, new Map([['a', '1']]));
    const before = await readFile(path);
    await otaRejection(updateGrubEnv(path, { big: 'x'.repeat(GRUBENV_SIZE) }));
    expect(await readFile(path)).toEqual(before);
  });

  it('says which file is missing and how to create it', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'ota-grubenv-')), 'grubenv');
    const e = await otaRejection(readGrubEnv(path));
    expect(e.message).toContain(path);
    expect(e.hint).toContain('grub-editenv');
    await writeFile(path, 'x');
    expect((await otaRejection(readGrubEnv(path))).message).toContain('not a GRUB environment block');
  });
});
