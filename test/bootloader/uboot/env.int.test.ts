import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { readUbootEnv, updateUbootEnv, writeUbootEnv } from '../../../bootloader/uboot/env.js';
import { encodeUbootEnvCopy } from '../../../bootloader/uboot/env-format.js';
import { otaRejection } from '../../helpers/errors.js';
import { FwEnvTools, type FwEnv } from './fw-env-tools.js';

// Both directions against libubootenv's own tools (Debian's libubootenv-tool), pointed at temp
// files by an fw_env.config. The strongest check is byte identity: the same change made by
// fw_setenv and by updateUbootEnv, from the same starting image, must give the same image — same
// copy written, same counter, same order (fw-env-tools.ts says what "same" allows).

const SIZE = 0x1000;
const A = 0x2000;
const B = 0x6000;
let fw: FwEnvTools;

beforeAll(async () => {
  fw = await FwEnvTools.create();
});

const single = (bytes?: Buffer) => fw.storage(['IMG 0x0 0x1000'], bytes ?? Buffer.alloc(SIZE));
// The second line spells the same numbers as fw_env.config allows: decimal/hex offset, hex size with or without 0x.
const redundant = (bytes?: Buffer) => fw.storage([`IMG ${A} 0x1000`, `IMG 0x${B.toString(16)} 1000`], bytes ?? Buffer.alloc(0x10000));

const counters = async (e: FwEnv) => {
  const b = await readFile(e.path);
  return [b[A + 4], b[B + 4]];
};

const plain = new Map([
  ['bootcmd', 'run distro_bootcmd; reset'],
  ['bootargs', 'console=ttyAMA0 root=/dev/mmcblk0p2 ostree=/ostree/boot.1/debian/abc/0'],
  ['eq', 'a=b=c'],
  ['tab', 'a\tb'],
  ['utf8', 'grüße ✓'],
  ['bs', 'x\\y'],
  ['Zed', 'upper case sorts first'],
]);

describe('single environment in a file', () => {
  it('writes what fw_printenv reads, including a value with a newline', async () => {
    const e = await single();
    await writeUbootEnv(e.layout, new Map([...plain, ['nl', 'one\ntwo']]), { recreate: true });
    const listed = await fw.list(e);
    expect(listed.get('nl')).toBe('one');
    listed.delete('nl');
    expect(listed).toEqual(plain);
    expect(await fw.get(e, 'nl')).toBe('one\ntwo');
  });

  it('reads what fw_setenv writes, including a value with a newline', async () => {
    const e = await single();
    const want = new Map([...plain, ['nl', 'one\ntwo']]);
    for (const [k, v] of want) await fw.set(e, k, v);
    expect((await readUbootEnv(e.layout)).vars).toEqual(want);
  });

  it('makes the same bytes as fw_setenv for sets, changes and deletes', async () => {
    let e = await single();
    e = await fw.sameAsFwSetenv(e, 'bootcount', '0', true);
    for (const [k, v] of plain) e = await fw.sameAsFwSetenv(e, k, v);
    e = await fw.sameAsFwSetenv(e, 'bootcount', '1');
    e = await fw.sameAsFwSetenv(e, 'eq', null);
    expect((await readUbootEnv(e.layout)).vars.get('bootcount')).toBe('1');
  });

  it('accepts the largest variable fw_printenv can read back, and refuses one byte more', async () => {
    const e = await single();
    const biggest = 'x'.repeat(SIZE - 4 - 'v='.length - 2);
    await writeUbootEnv(e.layout, new Map([['v', biggest]]), { recreate: true });
    expect(await fw.get(e, 'v')).toBe(biggest);
    const before = await readFile(e.path);
    const err = await otaRejection(updateUbootEnv(e.layout, { v: `${biggest}x` }));
    expect(err.code).toBe('ERR_OTA_BOOTENV');
    expect(await readFile(e.path)).toEqual(before);
  });

  it('reads an image made by mkenvimage (unsorted, 0xff padding, redundant flag 1) as fw_printenv does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-mkenvimage-'));
    const txt = join(dir, 'mkenv.txt');
    await writeFile(txt, 'zz=last\nbootcmd=boot it\n# comment\n\naa=first\n');
    const e = await redundant();
    const img = join(dir, 'mkenv.bin');
    await run('mkenvimage', ['mkenvimage', '-r', '-s', String(SIZE), '-o', img, txt]);
    const bytes = await readFile(e.path);
    (await readFile(img)).copy(bytes, A);
    await writeFile(e.path, bytes);
    const ours = await readUbootEnv(e.layout);
    expect(ours.vars).toEqual(await fw.list(e));
    expect(ours.vars.get('bootcmd')).toBe('boot it');
    expect(ours.current).toBe(0);
  });
});

describe('redundant environment at two offsets of one image', () => {
  it('agrees with fw_printenv and fw_setenv on every write, whichever side makes it', async () => {
    let e = await redundant();
    e = await fw.sameAsFwSetenv(e, 'bootcount', '0', true);
    for (let i = 1; i <= 5; i++) {
      if (i % 2) await fw.set(e, 'bootcount', String(i));
      else await updateUbootEnv(e.layout, { bootcount: String(i) });
      expect((await readUbootEnv(e.layout)).vars).toEqual(await fw.list(e));
      expect(await fw.get(e, 'bootcount')).toBe(String(i));
    }
    for (const [k, v] of plain) e = await fw.sameAsFwSetenv(e, k, v);
    expect((await readUbootEnv(e.layout)).vars).toEqual(new Map([...plain, ['bootcount', '5']]));
  });

  it('reads the other copy when the current one is damaged, as fw_printenv does, and writes over the damaged one', async () => {
    let e = await redundant();
    e = await fw.sameAsFwSetenv(e, 'v', 'old', true);
    e = await fw.sameAsFwSetenv(e, 'v', 'new');
    const current = (await readUbootEnv(e.layout)).current;
    const bytes = await readFile(e.path);
    const at = (current === 0 ? A : B) + 200;
    bytes[at] = (bytes[at] ?? 0) ^ 0x5a;
    await writeFile(e.path, bytes);
    expect(await fw.get(e, 'v')).toBe('old');
    const read = await readUbootEnv(e.layout);
    expect(read.vars.get('v')).toBe('old');
    expect(read.current).not.toBe(current);
    e = await fw.sameAsFwSetenv(e, 'v', 'repaired');
    expect((await readUbootEnv(e.layout)).current).toBe(current);
  });

  it('calls two damaged copies an error where fw_printenv falls back to defaults, and recreates them as fw_setenv does', async () => {
    const e = await redundant(Buffer.alloc(0x10000, 0x33));
    const { stdout, stderr } = await fw.printenv(e);
    expect(stdout).toBe('');
    expect(stderr).toContain('Cannot read environment');
    const err = await otaRejection(readUbootEnv(e.layout));
    expect(err.message).toContain('both copies');
    const fresh = await fw.sameAsFwSetenv(e, 'bootcount', '0', true);
    expect(await fw.list(fresh)).toEqual(new Map([['bootcount', '0']]));
  });

  for (const start of [[0xfd, 0xfe], [0xfe, 0xfd]] as const) {
    it(`follows the counter through 255 to 0 as fw_setenv does (copies start at ${start[0]} and ${start[1]})`, async () => {
      const bytes = Buffer.alloc(0x10000);
      start.forEach((counter, i) => encodeUbootEnvCopy(new Map([['step', `start${i}`]]), { envSize: SIZE, redundant: true, counter, where: 'test' }).copy(bytes, i ? B : A));
      let e = await redundant(bytes);
      expect(await fw.get(e, 'step')).toBe(`start${start[1] > start[0] ? 1 : 0}`);
      const seen: number[] = [];
      for (let step = 0; step < 4; step++) {
        if (step % 2) e = await fw.sameAsFwSetenv(e, 'step', String(step));
        else await fw.set(e, 'step', String(step));
        const ours = await readUbootEnv(e.layout);
        expect(ours.vars).toEqual(await fw.list(e));
        expect(ours.vars.get('step')).toBe(String(step));
        seen.push(ours.counter ?? -1);
        expect(await counters(e)).toContain(ours.counter);
      }
      expect(seen).toEqual([0xff, 0x00, 0x01, 0x02]);
    });
  }
});
