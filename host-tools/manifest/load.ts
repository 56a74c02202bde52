import { readFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { OtaError } from '../../common/errors.js';
import { parseStrictYaml } from '../../common/strict-yaml.js';
import { MAX_MANIFEST_BYTES, MAX_MANIFEST_PACKAGES, manifestSchema, type Manifest } from './schema.js';
import { fsReason, isMissing } from '../../common/fs-errors.js';

export { editDistance } from '../../common/strict-yaml.js';

/**
 * Reads and checks an image manifest. Errors name the file, the key path and the line:
 * `unknown key "pakages" at sources[0] (image.yaml:4)`.
 *
 * @example
 * const { manifest, sha256 } = await loadManifest('examples/minimal/image.yaml');
 */
export interface LoadedManifest {
  manifest: Manifest;
  path: string;
  /** SHA256 of the manifest's bytes: the lockfile records it. */
  sha256: string;
  text: string;
}

export async function loadManifest(path: string): Promise<LoadedManifest> {
  let text: string;
  try {
    // Before reading: the size of a regular file is known, and a huge one is refused unparsed.
    const st = await stat(path);
    if (st.isFile() && st.size > MAX_MANIFEST_BYTES) {
      throw new OtaError('ERR_OTA_MANIFEST', `manifest ${path} is ${st.size} bytes; ota reads manifests of at most ${MAX_MANIFEST_BYTES} bytes (${MAX_MANIFEST_BYTES / 1024} KiB)`, {
        hint: `list the packages the image needs (at most ${MAX_MANIFEST_PACKAGES}); ota lock adds their dependencies`,
      });
    }
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof OtaError) throw e;
    throw new OtaError('ERR_OTA_MANIFEST', `cannot read manifest ${path}: ${fsReason(e)}`, { cause: e, hint: isMissing(e) ? 'check the path; `ota import multistrap` can make a manifest from a multistrap configuration' : undefined });
  }
  return { manifest: parseManifest(text, path), path, sha256: createHash('sha256').update(text).digest('hex'), text };
}

/** Parses manifest text; `where` names it in errors. */
export function parseManifest(text: string, where: string): Manifest {
  return parseStrictYaml(text, where, manifestSchema, {
    code: 'ERR_OTA_MANIFEST',
    hint: 'see the manifest reference in docs/manifest.md',
  });
}
