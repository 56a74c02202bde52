import { lstat, readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { LOCK_FILE } from './lock.js';
import { STAGE_DIR } from './summary.js';

/**
 * The published directory's layout and the check that a directory is ours
 * (docs/releases.md, "The published directory"): a publish writes only into a directory that is absent, empty, or
 * carries our marker, so pointing --to at the wrong place changes nothing.
 *
 * @example
 * const p = publishedPaths('/srv/ota');
 * p.release('gateway/arm64', '1.2.0'); // /srv/ota/releases/gateway/arm64/1.2.0.jws
 */
export const MARKER_FILE = 'ota-published.json';
export const MARKER = { format: 'deb-ota-published', formatVersion: 1 } as const;

export interface PublishedPaths {
  root: string;
  marker: string;
  keys: string;
  repo: string;
  releases(ref: string): string;
  release(ref: string, version: string): string;
  group(group: string): string;
}

export function publishedPaths(root: string): PublishedPaths {
  return {
    root,
    marker: join(root, MARKER_FILE),
    keys: join(root, 'keys.jwks'),
    repo: join(root, 'repo'),
    releases: (ref) => join(root, 'releases', ref),
    release: (ref, version) => join(root, 'releases', ref, `${version}.jws`),
    group: (group) => join(root, 'groups', group, 'release.jws'),
  };
}

/** absent or empty: a first publish creates the tree; ours: it carries the marker. */
export type PublishedState = 'absent' | 'empty' | 'ours';

function notOurs(root: string, why: string): OtaError {
  return new OtaError('ERR_OTA_PUBLISHED', `${root} is not a published directory of ota: ${why}`, {
    // serve, verify, bundle and keys trust refuse with this too: the hint must not be publish's alone.
    hint: `give the directory an earlier \`ota publish --to\` made (it holds ${MARKER_FILE}); a first publish also takes an empty or new one`,
  });
}

/** Reads what is at `root`; refuses a directory that is not ours, naming why. */
export async function inspectPublished(root: string): Promise<PublishedState> {
  const st = await lstat(root).catch(() => undefined);
  if (!st) return 'absent';
  if (!st.isDirectory()) throw notOurs(root, 'it is not a directory');
  // A killed first publish may leave its lock or summary stage beside nothing else.
  const entries = (await readdir(root)).filter((e) => e !== LOCK_FILE && e !== STAGE_DIR);
  if (entries.length === 0) return 'empty';
  if (!entries.includes(MARKER_FILE)) throw notOurs(root, `it is not empty and has no ${MARKER_FILE}`);
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(join(root, MARKER_FILE), 'utf8'));
  } catch (e) {
    throw notOurs(root, `${MARKER_FILE} is not JSON (${(e as Error).message})`);
  }
  const d = doc as Record<string, unknown>;
  if (d.format !== MARKER.format) throw notOurs(root, `${MARKER_FILE} has format ${JSON.stringify(d.format)}, not "${MARKER.format}"`);
  if (d.formatVersion !== MARKER.formatVersion) {
    throw new OtaError('ERR_OTA_PUBLISHED', `${root} has published format version ${JSON.stringify(d.formatVersion)}; this ota writes version ${MARKER.formatVersion}`, { hint: 'publish with the ota that made it, or into a new directory' });
  }
  return 'ours';
}

/**
 * For the commands that read a published directory (serve, verify, bundle, log, keys trust): it
 * must be ours, so nothing else is served, read or changed. Returns its real path.
 *
 * @throws OtaError `ERR_OTA_PUBLISHED` naming why it is not.
 */
export async function requirePublished(dir: string): Promise<string> {
  const state = await inspectPublished(dir);
  if (state !== 'ours') throw notOurs(dir, state === 'absent' ? 'it does not exist' : `it is empty (no ${MARKER_FILE})`);
  return realpath(dir);
}

/** Names ota uses as paths: an OSTree ref (slash-separated), a group. No '..', nothing hidden. */
export function checkName(what: 'ref' | 'group', name: string): void {
  const part = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
  const ok = what === 'ref' ? name.split('/').every((p) => part.test(p)) : part.test(name);
  if (!ok) {
    throw new OtaError('ERR_OTA_USAGE', `invalid ${what} name "${name}"`, {
      hint: what === 'ref' ? 'a ref is names of letters, digits, ".", "_" and "-" joined by "/", e.g. gateway/arm64' : 'a group is letters, digits, ".", "_" and "-", e.g. lab',
    });
  }
}
