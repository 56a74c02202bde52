import { createHash } from 'node:crypto';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../common/exec.js';
import { OtaError } from '../../common/errors.js';
import type { NpmPin } from './plan.js';

/**
 * Pinned npm packages in a cache folder (docs/agent.md, "Shipping the agent"): fetched with
 * `npm pack` (the registry client's own cache and proxy settings apply) and accepted only when the
 * tarball's SHA-512 is the pinned integrity, on every use, so a tampered or truncated cache entry
 * is fetched again rather than built into an executable.
 *
 * @example
 * const tgz = await cachedPackage('/root/.cache/deb-ota/node', pins.node.amd64);
 */
export async function cachedPackage(cacheDir: string, pin: NpmPin): Promise<string> {
  const file = join(cacheDir, tarballName(pin));
  if ((await integrityOf(file)) === pin.integrity) return file;
  await mkdir(cacheDir, { recursive: true });
  const tmp = join(cacheDir, `.pack-${process.pid}`);
  await mkdir(tmp, { recursive: true });
  await run(`npm pack ${pin.name}@${pin.version}`, ['npm', 'pack', `${pin.name}@${pin.version}`, '--pack-destination', tmp, '--silent'], { cwd: tmp });
  const got = await integrityOf(join(tmp, tarballName(pin)));
  if (got !== pin.integrity) {
    throw new OtaError('ERR_OTA_HASH', `build:agent: ${pin.name}@${pin.version} from the registry has integrity ${got ?? '(no tarball)'}, pins.json says ${pin.integrity}`, {
      hint: 'the registry served other bytes than were pinned: check the registry you use (npm config get registry) before pinning anew',
    });
  }
  await rename(join(tmp, tarballName(pin)), file);
  return file;
}

/** One file of a package tarball (`package/<path>`), extracted into `dir`; returns its path. */
export async function extractFile(tgz: string, path: string, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await run(`extracting ${path}`, ['tar', '-xzf', tgz, '-C', dir, `package/${path}`]);
  return join(dir, 'package', path);
}

/** npm pack's file name: the scope's @ dropped and its / made a -. */
export function tarballName(pin: Pick<NpmPin, 'name' | 'version'>): string {
  return `${pin.name.replace(/^@/, '').replace('/', '-')}-${pin.version}.tgz`;
}

async function integrityOf(file: string): Promise<string | null> {
  try {
    return `sha512-${createHash('sha512').update(await readFile(file)).digest('base64')}`;
  } catch {
    return null;
  }
}
