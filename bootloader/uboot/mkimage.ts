/**
 * Compiles a U-Boot script (boot.cmd) into the legacy image U-Boot's `source` runs (boot.scr),
 * with `mkimage -A <arch> -O linux -T script -C none` from u-boot-tools. The image header holds a
 * timestamp; SOURCE_DATE_EPOCH (which mkimage honours) pins it, so the same script gives the same
 * bytes, as every other build output does.
 *
 * @example
 * const scr = await compileUbootBootScript(renderUbootBootScript(opts), 'arm64');
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../common/exec.js';
import { withContext } from '../../common/errors.js';

/** U-Boot's architecture names, by Debian architecture. */
const MKIMAGE_ARCH = { arm64: 'arm64', armhf: 'arm' } as const;

export interface CompileOptions {
  /** Seconds since the epoch for the image header (default 0: reproducible). */
  sourceDateEpoch?: number;
  /** The image name in the header (at most 32 bytes; default `deb-ota boot script`). */
  name?: string;
}

/** The boot.scr bytes for `script`. */
export async function compileUbootBootScript(script: string, arch: keyof typeof MKIMAGE_ARCH, options: CompileOptions = {}): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'ota-mkimage-'));
  try {
    const cmd = join(dir, 'boot.cmd');
    const scr = join(dir, 'boot.scr');
    await writeFile(cmd, script);
    const argv = ['mkimage', '-A', MKIMAGE_ARCH[arch], '-O', 'linux', '-T', 'script', '-C', 'none', '-n', options.name ?? 'deb-ota boot script', '-d', cmd, scr];
    await run('compile the U-Boot boot script', argv, { env: { ...process.env, SOURCE_DATE_EPOCH: String(options.sourceDateEpoch ?? 0) } });
    return await readFile(scr);
  } catch (e) {
    throw withContext(e, `boot.scr for ${arch}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
