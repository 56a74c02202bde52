import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readUbootEnv, updateUbootEnv, writeUbootEnv, type UbootEnvLayout } from '../../../bootloader/uboot/env.js';
import { inspectUbootEnvCopy } from '../../../bootloader/uboot/env-format.js';
import { otaRejection } from '../../helpers/errors.js';

const SIZE = 0x1000;
const A = 0x2000;
const B = 0x6000;

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'ota-ubootenv-'));
}

/** A 64 KiB image filled with a pattern, so that a stray write outside the copies shows. */
async function image(): Promise<{ path: string; layout: UbootEnvLayout }> {
  const path = join(await tempDir(), 'disk.img');
  const bytes = Buffer.alloc(0x10000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
  await writeFile(path, bytes);
  return { path, layout: { envSize: SIZE, copies: [{ kind: 'raw', path, offset: A }, { kind: 'raw', path, offset: B }] } };
}

const region = (buf: Buffer, off: number) => buf.subarray(off, off + SIZE);
const outside = (buf: Buffer) => Buffer.concat([buf.subarray(0, A), buf.subarray(A + SIZE, B), buf.subarray(B + SIZE)]);

describe('redundant environment at two offsets of an image', () => {
  it('refuses to read or write a storage where both copies have a bad CRC, and leaves it alone', async () => {
    const { path, layout } = await image();
    const before = await readFile(path);
    const e = await otaRejection(readUbootEnv(layout));
    expect(e.code).toBe('ERR_OTA_BOOTENV');
    expect(e.message).toContain('both copies');
    expect(e.message).toContain(`${path} at 0x2000 and ${path} at 0x6000`);
    expect(e.hint).toContain('recreate');
    await otaRejection(writeUbootEnv(layout, new Map([['a', '1']])));
    await otaRejection(updateUbootEnv(layout, { a: '1' }));
    expect(await readFile(path)).toEqual(before);
  });

  it('alternates copies on each write, bumping the counter, never touching the current copy or bytes outside the copies', async () => {
    const { path, layout } = await image();
    const first = await writeUbootEnv(layout, new Map([['n', '0']]), { recreate: true });
    let prev = await readFile(path);
    const pristineOutside = outside(prev);
    let state = first;
    for (let n = 1; n <= 4; n++) {
      const next = await updateUbootEnv(layout, { n: String(n) });
      const now = await readFile(path);
      expect(next.current).not.toBe(state.current);
      expect(next.counter).toBe(((state.counter ?? 0) + 1) & 0xff);
      const keptOffset = state.current === 0 ? A : B;
      expect(region(now, keptOffset)).toEqual(region(prev, keptOffset));
      expect(outside(now)).toEqual(pristineOutside);
      expect(await readUbootEnv(layout)).toEqual({ vars: new Map([['n', String(n)]]), current: next.current, counter: next.counter });
      state = next;
      prev = now;
    }
  });

  it('reads the good copy when the newer one is damaged, and overwrites the damaged one next', async () => {
    const { path, layout } = await image();
    await writeUbootEnv(layout, new Map([['v', 'old']]), { recreate: true });
    const newer = await updateUbootEnv(layout, { v: 'new' });
    const bytes = await readFile(path);
    const newerOffset = newer.current === 0 ? A : B;
    bytes[newerOffset + 100] = (bytes[newerOffset + 100] ?? 0) ^ 0xff;
    await writeFile(path, bytes);
    const read = await readUbootEnv(layout);
    expect(read.vars.get('v')).toBe('old');
    expect(read.current).not.toBe(newer.current);
    const again = await updateUbootEnv(layout, { v: 'fixed' });
    expect(again.current).toBe(newer.current);
    expect(inspectUbootEnvCopy(region(await readFile(path), newerOffset), true).crcOk).toBe(true);
  });

  it('refuses overlapping copies and an image that ends inside a copy, naming the place', async () => {
    const { path } = await image();
    const overlap = await otaRejection(readUbootEnv({ envSize: SIZE, copies: [{ kind: 'raw', path, offset: 0 }, { kind: 'raw', path, offset: SIZE - 1 }] }));
    expect(overlap.message).toContain('overlap');
    const short = await otaRejection(readUbootEnv({ envSize: SIZE, copies: [{ kind: 'raw', path, offset: 0x10000 - 16 }] }));
    expect(short.message).toContain(`${path} ends 16 bytes into the U-Boot environment copy at 0xfff0`);
  });
});

describe('single environment in a file (uboot.env)', () => {
  it('creates a missing file only when asked to recreate, then reads it back', async () => {
    const path = join(await tempDir(), 'uboot.env');
    const layout: UbootEnvLayout = { envSize: SIZE, copies: [{ kind: 'file', path }] };
    const missing = await otaRejection(readUbootEnv(layout));
    expect(missing.message).toContain(path);
    expect(missing.hint).toContain('recreate');
    await otaRejection(updateUbootEnv(layout, { a: '1' }));
    await updateUbootEnv(layout, { a: '1' }, { recreate: true });
    expect((await stat(path)).size).toBe(SIZE);
    expect(await readUbootEnv(layout)).toEqual({ vars: new Map([['a', '1']]), current: 0, counter: undefined });
  });

  it('replaces the file by rename (a new inode, no temp file left) and keeps the other variables', async () => {
    const dir = await tempDir();
    const path = join(dir, 'uboot.env');
    const layout: UbootEnvLayout = { envSize: SIZE, copies: [{ kind: 'file', path }] };
    await writeUbootEnv(layout, new Map([['keep', 'me'], ['drop', 'x']]), { recreate: true });
    const inode = (await stat(path)).ino;
    await updateUbootEnv(layout, { bootcount: '1', drop: null });
    expect((await stat(path)).ino).not.toBe(inode);
    expect(await readdir(dir)).toEqual(['uboot.env']);
    expect((await readUbootEnv(layout)).vars).toEqual(new Map([['bootcount', '1'], ['keep', 'me']]));
  });

  it('refuses a file shorter than the environment size, saying both sizes', async () => {
    const path = join(await tempDir(), 'uboot.env');
    await writeFile(path, Buffer.alloc(100));
    const e = await otaRejection(readUbootEnv({ envSize: SIZE, copies: [{ kind: 'file', path }] }));
    expect(e.message).toContain('100 bytes');
    expect(e.message).toContain(String(SIZE));
  });

  it('refuses variables that do not fit without writing anything', async () => {
    const path = join(await tempDir(), 'uboot.env');
    const layout: UbootEnvLayout = { envSize: 64, copies: [{ kind: 'file', path }] };
    await writeUbootEnv(layout, new Map([['a', '1']]), { recreate: true });
    const before = await readFile(path);
    const e = await otaRejection(updateUbootEnv(layout, { big: 'x'.repeat(64) }));
    expect(e.message).toContain('holds 60');
    expect(await readFile(path)).toEqual(before);
  });
});
