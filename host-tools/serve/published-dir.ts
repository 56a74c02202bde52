import { realpath } from 'node:fs/promises';
import { OtaError } from '../../common/errors.js';
import { inspectPublished, MARKER_FILE } from '../publish/published-dir.js';

/**
 * A PUBLISHED directory is ours when it holds `ota-published.json` with our format marker
 * (docs/releases.md, "The published directory"); `ota publish` and `ota serve` judge it with the
 * same check. Serving anything else would put an arbitrary tree on the network, so it is refused
 * before a port is opened.
 *
 * @example
 * const root = await requirePublished('/srv/ota'); // the directory's real path
 */
export async function requirePublished(dir: string): Promise<string> {
  const state = await inspectPublished(dir);
  if (state !== 'ours') {
    throw new OtaError('ERR_OTA_PUBLISHED', `${dir} is not a published directory: it ${state === 'absent' ? 'does not exist' : `is empty (no ${MARKER_FILE})`}`, {
      hint: 'give the directory `ota publish --to` wrote (docs/releases.md, "The published directory")',
    });
  }
  return realpath(dir);
}
