import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { fsReason } from '../../common/fs-errors.js';

/**
 * Refuses a `--repo` that is not there before libostree does: a mistyped path is bad input
 * (exit 2) that says so in words, not a failed open (exit 1) in libostree's.
 *
 * @example
 * await requireRepo(opts.repo);
 */
export async function requireRepo(path: string): Promise<void> {
  const st = await stat(path).catch((e: unknown) => {
    throw new OtaError('ERR_OTA_USAGE', `cannot open the repository ${path}: ${fsReason(e).replace('the file', 'it')}`, {
      hint: 'give the --repo that `ota build` built into',
    });
  });
  if (!st.isDirectory()) throw new OtaError('ERR_OTA_USAGE', `cannot open the repository ${path}: it is not a directory`, { hint: 'give the --repo that `ota build` built into' });
  // Every OSTree repository has a config file at its top (`ostree init` writes it first).
  if (!existsSync(join(path, 'config'))) {
    throw new OtaError('ERR_OTA_USAGE', `cannot open the repository ${path}: it is not an OSTree repository (no config file in it)`, { hint: 'give the --repo that `ota build` built into' });
  }
}
