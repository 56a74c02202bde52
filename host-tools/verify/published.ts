import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { silent, type EventSink } from '../../common/events.js';
import { Repo } from '../../node-ostree/index.js';
import { loadTrustedKeys } from '../../contract/index.js';
import { requirePublished } from '../publish/published-dir.js';
import { checkDeltas } from './delta-checks.js';
import { checkReleases } from './release-checks.js';
import { checkChains, checkSummary } from './repo-checks.js';

/**
 * `ota verify PUBLISHED`: checks everything a device will rely on and names each problem
 * (docs/releases.md, "Verifying"). Without `key`, the directory's own keys.jwks is used, which
 * proves the files agree with each other (integrity), not that the right key signed them (trust).
 *
 * @example
 * const r = await verifyPublished('/srv/ota', { key: 'keys/release.pub.jwks' });
 * if (r.problems.length) for (const p of r.problems) console.log(p);
 */
export interface VerifyOptions {
  /** release.pub.jwks or the directory holding it; a release.gpg next to it is used for GPG signatures. */
  key?: string;
  now?: Date;
  onEvent?: EventSink;
}

export interface PublishedReport {
  kind: 'published';
  path: string;
  /** `key`: checked against the key given; `published-keys`: against the directory's own keys.jwks. */
  trust: 'key' | 'published-keys';
  kids: string[];
  /** The release.gpg used for GPG commit signatures, or null when none was available. */
  gpgKeyring: string | null;
  refs: { ref: string; head: string; commits: number }[];
  deltas: number;
  releases: number;
  groups: number;
  problems: string[];
}

/** release.gpg beside the trusted key (in its directory, or next to the file). */
export function gpgKeyringBeside(key: string): string | undefined {
  const dir = statSync(key, { throwIfNoEntry: false })?.isDirectory() ? key : dirname(key);
  const file = join(dir, 'release.gpg');
  return existsSync(file) ? file : undefined;
}

/** keys.jwks names who may publish: `ota publish` refuses a directory without a usable one. */
async function checkPublishedKeys(dir: string, problems: string[]): Promise<void> {
  const file = join(dir, 'keys.jwks');
  if (!existsSync(file)) {
    problems.push('keys.jwks is missing');
    return;
  }
  const keys = await loadTrustedKeys(file).then((t) => (t.byKid.size > 0 ? undefined : 'it holds no key'), (e: Error) => e.message);
  if (keys) problems.push(`keys.jwks: ${keys}`);
}

export async function verifyPublished(dir: string, opts: VerifyOptions = {}): Promise<PublishedReport> {
  await requirePublished(dir);
  const trusted = await loadTrustedKeys(opts.key ?? join(dir, 'keys.jwks'));
  const keys = [...trusted.byKid.values()].map((k) => k.publicKey);
  const gpgKeyring = opts.key ? gpgKeyringBeside(opts.key) : undefined;
  const problems: string[] = [];
  const onEvent = opts.onEvent ?? silent;
  const step = (message: string) => onEvent({ phase: 'check', release: dir, message });
  if (opts.key) await checkPublishedKeys(dir, problems);
  const repo = await Repo.open(join(dir, 'repo'));
  try {
    step('commits: signatures and objects');
    const chains = await checkChains(repo, { keys, gpgKeyring, onEvent: (message, current) => onEvent({ phase: 'check', release: dir, message, current }) }, problems);
    step('summary and summary.sig');
    const summaryDeltas = await checkSummary(repo, keys, problems);
    step('static deltas');
    const deltas = await checkDeltas(repo, summaryDeltas, problems);
    step('release and group manifests');
    const counts = await checkReleases({ dir, repo, chains, trusted, ...(opts.now ? { now: opts.now } : {}) }, problems);
    return {
      kind: 'published',
      path: dir,
      trust: opts.key ? 'key' : 'published-keys',
      kids: [...trusted.byKid.keys()],
      gpgKeyring: gpgKeyring ?? null,
      refs: chains.map((c) => ({ ref: c.ref, head: c.head, commits: c.commits.length })),
      deltas: deltas.length,
      ...counts,
      problems,
    };
  } finally {
    repo.close();
  }
}
