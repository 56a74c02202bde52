import { readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { OtaError } from '../../common/errors.js';

/**
 * A PUBLISHED directory is ours when it holds `ota-published.json` with our format marker
 * (docs/releases.md, "The published directory"). Serving anything else would put an arbitrary
 * tree on the network, so it is refused before a port is opened.
 *
 * @example
 * const root = await requirePublished('/srv/ota'); // the directory's real path
 */
const Marker = z.strictObject({ format: z.literal('deb-ota-published'), formatVersion: z.literal(1) });

export const PUBLISHED_MARKER = 'ota-published.json';

export async function requirePublished(dir: string): Promise<string> {
  const hint = 'give the directory `ota publish --to` wrote (docs/releases.md, "The published directory")';
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new OtaError('ERR_OTA_PUBLISHED', `${dir} is not a directory`, { hint });
  const markerPath = join(dir, PUBLISHED_MARKER);
  const text = await readFile(markerPath, 'utf8').catch(() => undefined);
  if (text === undefined) throw new OtaError('ERR_OTA_PUBLISHED', `${dir} is not a published directory: it has no ${PUBLISHED_MARKER}`, { hint });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new OtaError('ERR_OTA_PUBLISHED', `${markerPath} is not JSON`, { hint });
  }
  const r = Marker.safeParse(parsed);
  if (!r.success) {
    throw new OtaError('ERR_OTA_PUBLISHED', `${markerPath} is not a deb-ota marker: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`, { hint });
  }
  return realpath(dir);
}
