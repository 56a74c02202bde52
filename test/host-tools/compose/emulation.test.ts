import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emulationFor, nativeArches, parseBinfmtEntry } from '../../../host-tools/compose/emulation.js';
import { otaRejection } from '../../helpers/errors.js';

describe('emulation', () => {
  it('parses a binfmt_misc entry', () => {
    const text = 'enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\nmagic 7f454c46\n';
    expect(parseBinfmtEntry(text)).toEqual({ enabled: true, interpreter: '/usr/libexec/qemu-binfmt/aarch64-binfmt-P', flags: 'PF' });
    expect(parseBinfmtEntry('disabled\n').enabled).toBe(false);
  });

  it('knows which arches run natively', () => {
    expect(nativeArches('x64')).toEqual(['amd64', 'i386']);
    expect(nativeArches('arm64')).toContain('armhf');
  });

  it('binds the interpreter into the chroot unless binfmt has the F flag', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-binfmt-'));
    const interp = join(dir, 'qemu-aarch64-static');
    await writeFile(interp, '');
    await writeFile(join(dir, 'qemu-aarch64'), `enabled\ninterpreter ${interp}\nflags: P\n`);
    if (process.arch !== 'x64') return;
    expect(await emulationFor('arm64', dir)).toEqual({ native: false, interpreter: interp, bindAt: interp });
    await writeFile(join(dir, 'qemu-aarch64'), `enabled\ninterpreter ${interp}\nflags: PF\n`);
    expect(await emulationFor('arm64', dir)).toEqual({ native: false, interpreter: interp });
    expect(await emulationFor('amd64', dir)).toEqual({ native: true });
  });

  it('says how to fix a missing or disabled emulator', async () => {
    if (process.arch !== 'x64') return;
    const dir = await mkdtemp(join(tmpdir(), 'ota-binfmt-'));
    const missing = await otaRejection(emulationFor('armhf', dir));
    expect(missing.code).toBe('ERR_OTA_EMULATION');
    expect(missing.message).toContain('no qemu-arm entry');
    expect(missing.hint).toContain('scripts/setup');
    await writeFile(join(dir, 'qemu-arm'), 'disabled\ninterpreter /x\nflags: P\n');
    expect((await otaRejection(emulationFor('armhf', dir))).hint).toContain('update-binfmts --enable qemu-arm');
  });
});
