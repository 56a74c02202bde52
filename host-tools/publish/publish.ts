import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { OtaError, withContext } from '../../common/errors.js';
import { silent, type EventSink } from '../../common/events.js';
import { Repo } from '../../node-ostree/index.js';
import { loadTrustedKeys } from '../../contract/index.js';
import { findCommit } from '../compose/find-commit.js';
import { executePublish, type DeltaResult, type ExecuteResult } from './execute.js';
import { lockPublished } from './lock.js';
import { readHistory } from './history.js';
import { loadPublishKeys } from './keys.js';
import { planPublish, type BuiltCommit, type PublishedEntry, type PublishPlan, type PublishRequest, type StepName } from './plan.js';
import { checkName, inspectPublished, publishedPaths, type PublishedPaths } from './published-dir.js';

/**
 * `ota publish`: a built commit becomes a signed release in the published directory
 * (docs/releases.md, "Publishing"). Reads everything first (the directory, the key, the build,
 * the published history), plans, and only then writes, in the order that keeps the previous
 * release valid.
 *
 * @example
 * const r = await publish({ repoPath: 'build/repo', to: 'published', key: 'keys', ref: 'gateway/arm64', version: '1.2.0' });
 * r.commit; r.deltas[0]?.bytes;
 */
export interface PublishOptions extends PublishRequest {
  /** The build repository holding `ref`. */
  repoPath: string;
  /** The built commit to publish, a checksum or a ref of the build repository (default: `ref`). */
  commit?: string;
  to: string;
  /** The release key: release.jwk or its DIR. */
  key: string;
  gpgHomedir?: string;
  gpgKeyId?: string;
  onEvent?: EventSink;
  /** The publish time (manifest publishedAt and iat); default now. */
  now?: Date;
  /** Test seam: stop after this many steps of the plan. */
  stopAfter?: number;
}

export interface PublishResult {
  ref: string;
  version: string;
  commit: string;
  builtCommit: string;
  parent: string | null;
  previousVersion: string | null;
  manifestPath: string;
  groupPath: string | null;
  deltas: DeltaResult[];
  fullPullBytes: number;
  unpackedBytes: number;
  packages: number;
  changes: { added: number; removed: number; changed: number };
  created: boolean;
  warnings: string[];
  steps: StepName[];
}

function builtCommit(repo: Repo, rev: string): BuiltCommit {
  const c = findCommit(repo, rev);
  const str = (k: string) => {
    const v = c.metadata.get(k)?.value;
    return typeof v === 'string' ? v : null;
  };
  return { checksum: c.checksum, subject: c.subject, timestamp: c.timestamp, board: str('ota.board'), arch: str('ota.arch') };
}

/**
 * The kids of PUBLISHED/keys.jwks, which says who may publish here: without it any key could
 * (docs/releases.md, "Publishing"), so a missing or keyless one is refused.
 */
async function publishedKids(paths: PublishedPaths): Promise<string[]> {
  const lost = (why: string) =>
    new OtaError('ERR_OTA_PUBLISHED', `${paths.keys} ${why}: it names the release keys that may publish here`, {
      hint: `restore it from the release key's directory (cp KEYS/release.pub.jwks ${paths.keys}); add a new key later with \`ota keys trust\``,
    });
  if (!existsSync(paths.keys)) throw lost('is missing');
  let kids: string[];
  try {
    kids = [...(await loadTrustedKeys(paths.keys)).byKid.keys()];
  } catch (e) {
    throw lost(`is not a public JWK set (${(e as Error).message})`);
  }
  if (kids.length === 0) throw lost('holds no keys');
  return kids;
}

async function publishedState(paths: PublishedPaths, ref: string, fresh: boolean): Promise<{ published: PublishedEntry[]; kids: string[] }> {
  if (fresh) return { published: [], kids: [] };
  const kids = await publishedKids(paths);
  const repo = await Repo.open(paths.repo).catch(() => undefined);
  if (!repo) return { published: [], kids };
  try {
    const history = await readHistory(repo, paths, ref);
    // The floor is carried forward from the newest release's manifest: without it a publish would
    // silently drop the floor, so a damaged directory is refused rather than guessed at.
    const newest = history[0];
    if (newest && newest.manifest === null) {
      throw new OtaError('ERR_OTA_PUBLISHED', `the manifest of ${ref} ${newest.version}, the newest release, is missing or unreadable (${relative(paths.root, paths.release(ref, newest.version))}): its anti-rollback floor is unknown`, {
        hint: 'restore it from a backup or from a copy served elsewhere; `ota verify PUBLISHED` lists what else is damaged',
      });
    }
    const published = history.map((h) => ({ version: h.version, commit: h.commit, minVersion: typeof h.manifest?.minVersion === 'string' ? h.manifest.minVersion : null }));
    return { published, kids };
  } finally {
    repo.close();
  }
}

export async function publish(o: PublishOptions): Promise<PublishResult> {
  const onEvent = o.onEvent ?? silent;
  const paths = publishedPaths(resolve(o.to));
  try {
    checkName('ref', o.ref);
    const state = await inspectPublished(paths.root);
    // A first publish killed inside its init step leaves the marker and perhaps keys.jwks, but no
    // repository and nothing published: the init step runs again and completes it.
    const fresh = state !== 'ours' || ![join(paths.repo, 'config'), join(paths.root, 'releases'), join(paths.root, 'groups')].some((p) => existsSync(p));
    const keys = await loadPublishKeys(o.key, { homedir: o.gpgHomedir, keyId: o.gpgKeyId });
    const build = await Repo.open(o.repoPath);
    let built: BuiltCommit;
    try {
      built = builtCommit(build, o.commit ?? o.ref);
    } finally {
      build.close();
    }
    // Ours: lock before reading what is published, so the plan stays true until it is done.
    // Fresh: there is nothing to read, and a refusal must not leave a directory behind.
    let unlock = fresh ? undefined : await lockPublished(paths.root);
    let r: ExecuteResult;
    let plan: PublishPlan;
    try {
      const { published, kids } = await publishedState(paths, o.ref, fresh);
      plan = planPublish({ request: o, built, published, fresh, publishedKids: kids, kid: keys.release.kid });
      for (const w of plan.warnings) onEvent({ phase: 'publish', release: `${o.ref} ${o.version}`, message: w, level: 'warning' });
      unlock ??= await lockPublished(paths.root);
      r = await executePublish(plan, { paths, buildRepo: resolve(o.repoPath), keys, onEvent, now: o.now ?? new Date(), ...(o.stopAfter !== undefined ? { stopAfter: o.stopAfter } : {}) });
    } finally {
      await unlock?.();
    }
    const m = r.manifest;
    return {
      ref: o.ref, version: o.version, commit: r.commit, builtCommit: built.checksum, parent: plan.parent?.commit ?? null, previousVersion: plan.parent?.version ?? null,
      manifestPath: paths.release(o.ref, o.version), groupPath: plan.group ? paths.group(plan.group) : null, deltas: r.deltas,
      fullPullBytes: m?.fullPullBytes ?? 0, unpackedBytes: m?.unpackedBytes ?? 0, packages: m?.packages.length ?? 0,
      changes: { added: m?.changes.added.length ?? 0, removed: m?.changes.removed.length ?? 0, changed: m?.changes.changed.length ?? 0 },
      created: fresh, warnings: plan.warnings, steps: r.steps,
    };
  } catch (e) {
    throw withContext(e, `publishing ${o.ref} ${o.version}`);
  }
}
