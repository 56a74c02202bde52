import { readFile } from 'node:fs/promises';
import { readCommit, type Repo } from '../../node-ostree/index.js';
import type { PublishedPaths } from './published-dir.js';

/**
 * What is published of a ref, newest first: its chain of commits in repo/
 * (docs/releases.md, "The published directory"), each with the payload of its release manifest when there is one.
 * Read without verifying signatures: this is the publisher's own tree, read to plan the next
 * publish and for `ota log`; `ota verify` is what checks it.
 *
 * @example
 * const h = await readHistory(repo, paths, 'gateway/arm64');
 * h[0]?.version; // the latest published version
 */
export interface PublishedVersion {
  version: string;
  commit: string;
  builtCommit: string | null;
  subject: string;
  /** The commit's timestamp (the build's), seconds since the epoch. */
  timestamp: number;
  /** The release manifest's fields (unverified), when releases/<ref>/<version>.jws is readable. */
  manifest: Record<string, unknown> | null;
}

export async function readHistory(repo: Repo, paths: PublishedPaths, ref: string): Promise<PublishedVersion[]> {
  const out: PublishedVersion[] = [];
  let next = repo.resolve(ref, { allowMissing: true });
  while (next && repo.hasObject('commit', next)) {
    const c = readCommit(repo, next);
    const version = c.metadata.get('version')?.value;
    if (typeof version !== 'string') break;
    const built = c.metadata.get('ota.built-commit')?.value;
    out.push({ version, commit: c.checksum, builtCommit: typeof built === 'string' ? built : null, subject: c.subject, timestamp: c.timestamp, manifest: await readManifestPayload(paths.release(ref, version)) });
    next = c.parent ?? undefined;
  }
  return out;
}

/** The payload of a compact JWS file, unverified; null when missing or unreadable. */
export async function readManifestPayload(path: string): Promise<Record<string, unknown> | null> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  const payload = text?.trim().split('.')[1];
  if (!payload) return null;
  try {
    const doc: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return doc && typeof doc === 'object' ? (doc as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
