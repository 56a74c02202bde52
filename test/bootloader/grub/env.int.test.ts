import { copyFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { GRUBENV_HEADER, GRUBENV_SIZE, readGrubEnv, updateGrubEnv, writeGrubEnv } from '../../../bootloader/grub/env.js';
import { otaRejection } from '../../helpers/errors.js';

// Both directions against the real grub-editenv (Debian's grub-common). `grub-editenv FILE list`
// prints each variable as `name=value` with the value unescaped, so with newlines in values its
// whole output is compared as text rather than split into lines.

let dir: string;
let seq = 0;
const fresh = () => join(dir, `grubenv${++seq}`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-grubenv-int-'));
});

async function editenv(path: string, ...args: string[]): Promise<string> {
  return (await run('grub-editenv', ['grub-editenv', path, ...args])).stdout;
}

const listing = (vars: Map<string, string>) => [...vars].map(([k, v]) => `${k}=${v}\n`).join('');

const tricky = new Map([
  ['saved_entry', 'ostree-1-debian'],
  ['boot_counter', '3'],
  ['bs', 'C:\\dir\\'],
  ['nl', 'one\ntwo'],
  ['eq', 'a=b'],
  ['hash', '#not a comment'],
  ['spaces', '  both ends  '],
  ['utf8', 'grüße ✓'],
  ['empty', ''],
]);

describe('grubenv and grub-editenv', () => {
  it('writes blocks grub-editenv lists exactly, values unescaped and in order', async () => {
    const path = fresh();
    await writeGrubEnv(path, tricky);
    expect(await editenv(path, 'list')).toBe(listing(tricky));
  });

  it('reads what grub-editenv creates and sets, including its warning comment', async () => {
    const path = fresh();
    await editenv(path, 'create');
    expect(await readGrubEnv(path)).toEqual(new Map());
    await editenv(path, 'set', ...[...tricky].map(([k, v]) => `${k}=${v}`));
    const vars = await readGrubEnv(path);
    expect([...vars]).toEqual([...tricky]);
  });

  it('makes the same bytes as grub-editenv for a change in place, a new name and an unset', async () => {
    const tool = fresh();
    const ours = fresh();
    await writeGrubEnv(tool, tricky);
    await copyFile(tool, ours);
    await editenv(tool, 'set', 'boot_counter=2', 'boot_success=0', 'nl=short');
    await editenv(tool, 'unset', 'bs');
    await updateGrubEnv(ours, { boot_counter: '2', boot_success: '0', nl: 'short' });
    await updateGrubEnv(ours, { bs: null });
    expect((await readFile(ours)).toString()).toBe((await readFile(tool)).toString());
  });

  it('accepts exactly what fits for grub-editenv and refuses the same one byte more', async () => {
    const room = GRUBENV_SIZE - GRUBENV_HEADER.length - 'v=\n'.length;
    const base = fresh();
    await writeGrubEnv(base, new Map());
    const tool = fresh();
    await copyFile(base, tool);
    await editenv(tool, 'set', `v=${'x'.repeat(room)}`);
    const ours = fresh();
    await copyFile(base, ours);
    await updateGrubEnv(ours, { v: 'x'.repeat(room) });
    expect(await readFile(ours)).toEqual(await readFile(tool));

    const over = fresh();
    await copyFile(base, over);
    const refused = await run('grub-editenv', ['grub-editenv', over, 'set', `v=${'x'.repeat(room + 1)}`], { okCodes: [0, 1] });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('too small');
    const e = await otaRejection(updateGrubEnv(over, { v: 'x'.repeat(room + 1) }));
    expect(e.code).toBe('ERR_OTA_BOOTENV');
    expect(await readFile(over)).toEqual(await readFile(base));
  });
});
