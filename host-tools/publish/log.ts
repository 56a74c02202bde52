import { resolve } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { Repo } from '../../node-ostree/index.js';
import { readHistory } from './history.js';
import { publishedPaths, requirePublished } from './published-dir.js';

/**
 * `ota log`: a ref's published versions, newest first (docs/releases.md, "Publishing"), from the
 * chain of commits in repo/ and each version's release manifest (read, not verified: `ota
 * verify` checks signatures).
 *
 * @example
 * const entries = await releaseLog({ to: 'published', ref: 'gateway/arm64' });
 * entries[0]?.version;
 */
export interface LogEntry {
  version: string;
  /** When it was published (the manifest's publishedAt), or null without a readable manifest. */
  publishedAt: string | null;
  commit: string;
  builtCommit: string | null;
  subject: string | null;
  /** The build's time (the commit's timestamp), RFC 3339. */
  builtAt: string;
  minVersion: string | null;
  changes: {
    previousVersion: string | null;
    added: { name: string; version: string }[];
    removed: { name: string; version: string }[];
    changed: { name: string; from: string; to: string }[];
  } | null;
}

export async function releaseLog(o: { to: string; ref: string }): Promise<LogEntry[]> {
  const paths = publishedPaths(resolve(o.to));
  await requirePublished(paths.root);
  const repo = await Repo.open(paths.repo);
  try {
    if (!repo.resolve(o.ref, { allowMissing: true })) {
      const refs = [...repo.listRefs().keys()];
      throw new OtaError('ERR_OTA_USAGE', `${o.ref} is not published in ${o.to}`, { hint: refs.length ? `published refs: ${refs.join(', ')}` : 'nothing is published there yet' });
    }
    const history = await readHistory(repo, paths, o.ref);
    return history.map((h) => {
      const m = h.manifest ?? {};
      return {
        version: h.version,
        publishedAt: typeof m.publishedAt === 'string' ? m.publishedAt : null,
        commit: h.commit,
        builtCommit: h.builtCommit,
        subject: h.subject === '' ? null : h.subject,
        builtAt: new Date(h.timestamp * 1000).toISOString().replace(/\.000Z$/, 'Z'),
        minVersion: typeof m.minVersion === 'string' ? m.minVersion : null,
        changes: m.changes && typeof m.changes === 'object' ? (m.changes as LogEntry['changes']) : null,
      };
    });
  } finally {
    repo.close();
  }
}

/** The text `ota log` prints for one entry. */
export function formatLogEntry(e: LogEntry): string[] {
  const lines = [`${e.version}  ${e.publishedAt ?? `built ${e.builtAt}`}  ${e.commit.slice(0, 12)}${e.subject ? `  ${e.subject}` : ''}`];
  const c = e.changes;
  if (!c) return [...lines, '    (no release manifest)'];
  // A first release "adds" every package: a count says it; --json keeps the list.
  if (c.previousVersion === null) return [...lines, `    first release: ${c.added.length} packages`];
  for (const a of c.added) lines.push(`    + ${a.name} ${a.version}`);
  for (const r of c.removed) lines.push(`    - ${r.name} ${r.version}`);
  for (const x of c.changed) lines.push(`    ~ ${x.name} ${x.from} -> ${x.to}`);
  if (c.added.length + c.removed.length + c.changed.length === 0) lines.push(`    no package changes since ${c.previousVersion}`);
  return lines;
}
