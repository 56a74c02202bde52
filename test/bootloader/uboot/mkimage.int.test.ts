import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { compileUbootBootScript } from '../../../bootloader/uboot/mkimage.js';
import { renderUbootBootScript } from '../../../bootloader/uboot/boot-script.js';

describe('compileUbootBootScript (mkimage)', () => {
  const script = renderUbootBootScript({ arch: 'arm64', device: { interface: 'virtio', boot: '0:1', root: '0:2' } });

  it('makes a script image mkimage itself lists, holding the script', async () => {
    const scr = await compileUbootBootScript(script, 'arm64');
    const dir = await mkdtemp(join(tmpdir(), 'ota-mkimage-test-'));
    await writeFile(join(dir, 'boot.scr'), scr);
    const listed = (await run('list boot.scr', ['mkimage', '-l', join(dir, 'boot.scr')])).stdout;
    expect(listed).toContain('Image Name:   deb-ota boot script');
    expect(listed).toContain('AArch64 Linux Script (uncompressed)');
    expect(scr.includes(Buffer.from(script))).toBe(true);
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the same bytes for the same script (SOURCE_DATE_EPOCH), and takes the arch', async () => {
    const a = await compileUbootBootScript(script, 'arm64');
    expect(await compileUbootBootScript(script, 'arm64')).toEqual(a);
    expect(await compileUbootBootScript(script, 'arm64', { sourceDateEpoch: 1700000000 })).not.toEqual(a);
    const arm = await compileUbootBootScript(script, 'armhf');
    expect(arm[29]).toBe(2); // ih_arch: IH_ARCH_ARM
    expect(a[29]).toBe(22); // IH_ARCH_ARM64
  });
});
