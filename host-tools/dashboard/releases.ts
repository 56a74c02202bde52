/**
 * The releases the dashboard's release page shows (docs/dashboard.md, "What it shows"): from the
 * published directory when it has one (`ota serve --dashboard`), else from each group's retained
 * release on the broker. Either way a manifest is read with the contract's checks but its
 * signature is not verified here (the dashboard only shows it; a device verifies before it
 * acts, and `ota verify` checks a published directory), and the page says so.
 *
 * @example
 * const list = await publishedReleases('/srv/ota');
 * list[0]?.manifest?.version; // '1.2'
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { readUnverified, type ReleaseManifest } from '../../contract/index.js';
import { cleanText, cleanValue } from '../fleet/sanitize.js';

export interface ReleaseEntry {
  /** Where it came from: `releases/<ref>/<version>.jws` of the published directory, or `group <G>` on the broker. */
  source: string;
  /** The group whose retained release this is, or null for a file. */
  group: string | null;
  manifest: ReleaseManifest | null;
  /** Why the manifest could not be read (malformed, too large), or null. */
  problem: string | null;
  expiresAt: string | null;
}

/** Reads one compact JWS as a release manifest, without its signature's check. */
export function readRelease(source: string, group: string | null, jws: string): ReleaseEntry {
  try {
    const r = readUnverified('release', jws.trim(), { checkExpiry: false });
    return { source, group, manifest: cleanValue(r.doc), problem: null, expiresAt: r.expiresAt.toISOString() };
  } catch (e) {
    return { source, group, manifest: null, problem: cleanText(e instanceof Error ? e.message : String(e), { maxChars: 300 }), expiresAt: null };
  }
}

/** Every `releases/**\/*.jws` of a published directory, newest publish first. */
export async function publishedReleases(root: string): Promise<ReleaseEntry[]> {
  const dir = join(root, 'releases');
  let files: string[];
  try {
    files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.jws'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const entries = await Promise.all(files.map(async (f) => readRelease(relative(root, join(dir, f)), null, await readFile(join(dir, f), 'utf8'))));
  return entries.sort((a, b) => (b.manifest?.publishedAt ?? '').localeCompare(a.manifest?.publishedAt ?? ''));
}

/** The group's retained release from `<prefix>/groups/<G>/release`, or null for another topic. */
export function releaseTopicGroup(prefix: string, topic: string): string | null {
  const head = `${prefix}/groups/`;
  if (!topic.startsWith(head) || !topic.endsWith('/release')) return null;
  const g = topic.slice(head.length, -'/release'.length);
  return g.includes('/') ? null : g;
}
