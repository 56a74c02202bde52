import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { OtaError } from '../../common/errors.js';

/**
 * Finding releases and group pointers in a published directory for bundle and verify
 * (docs/releases.md, "The published directory"), which first make sure it is ours
 * (requirePublished).
 *
 * @example
 * const { ref, file } = await findRelease('/srv/ota', '1.2', undefined);
 */

async function walk(dir: string, suffix: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p, suffix)));
    else if (e.isFile() && e.name.endsWith(suffix)) out.push(p);
  }
  return out.sort();
}

export interface ReleaseFile {
  ref: string;
  version: string;
  file: string;
}

/** Every releases/<ref>/<version>.jws of the published directory. */
export async function listReleases(dir: string): Promise<ReleaseFile[]> {
  const root = join(dir, 'releases');
  return (await walk(root, '.jws')).map((file) => {
    const parts = relative(root, file).split(sep);
    const name = parts.pop()!;
    return { ref: parts.join('/'), version: name.slice(0, -'.jws'.length), file };
  });
}

/** Every groups/<group>/release.jws. */
export async function listGroups(dir: string): Promise<{ group: string; file: string }[]> {
  const root = join(dir, 'groups');
  return (await walk(root, 'release.jws')).filter((f) => f.endsWith(`${sep}release.jws`)).map((file) => ({ group: relative(root, file).split(sep).slice(0, -1).join('/'), file }));
}

/**
 * The release file of `version` (of `ref` when given).
 *
 * @throws OtaError `ERR_OTA_USAGE` when no release or, without a ref, several refs have that version.
 */
export async function findRelease(dir: string, version: string, ref: string | undefined): Promise<ReleaseFile> {
  const all = (await listReleases(dir)).filter((r) => r.version === version && (ref === undefined || r.ref === ref));
  if (all.length === 0) {
    throw new OtaError('ERR_OTA_USAGE', `${dir} has no published version ${version}${ref ? ` of ${ref}` : ''}`, { hint: '`ota log --to PUBLISHED REF` lists the published versions' });
  }
  if (all.length > 1) {
    throw new OtaError('ERR_OTA_USAGE', `version ${version} is published for several refs: ${all.map((r) => r.ref).join(', ')}`, { hint: 'choose one with --ref' });
  }
  return all[0]!;
}
