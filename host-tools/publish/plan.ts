import { OtaError } from '../../common/errors.js';
import { checkName } from './published-dir.js';
import { checkVersion } from './versions.js';

/**
 * What a publish will do, decided before anything is written
 * (docs/conventions.md, "Plan as data"): the version checked against the published ones, the parent, the deltas' sources and
 * the ordered steps (docs/releases.md, "The published directory"). Bad input throws here, so it
 * changes nothing.
 *
 * @example
 * const plan = planPublish({ request, built, published: history, fresh: false, previousFloor: null, publishedKids: [kid], kid });
 */
export const STEPS = ['init', 'objects', 'commit', 'sign', 'deltas', 'manifest', 'summary-stage', 'ref', 'summary-sig-both', 'summary', 'summary-sig', 'group', 'cleanup'] as const;
export type StepName = (typeof STEPS)[number];

export interface PublishRequest {
  ref: string;
  version: string;
  group?: string;
  minVersion?: string;
  /** Versions to make deltas from; default the last `deltas` published ones. */
  deltaFrom?: string[];
  deltas?: number;
  expiresInSeconds?: number;
  force?: boolean;
}

/** The built commit, as read from the build repository. */
export interface BuiltCommit {
  checksum: string;
  subject: string;
  timestamp: number;
  board: string | null;
  arch: string | null;
}

export interface PublishedEntry {
  version: string;
  commit: string;
  /** The release's anti-rollback floor, from its manifest. */
  minVersion: string | null;
}

export interface PlanInputs {
  request: PublishRequest;
  built: BuiltCommit;
  /** The ref's published versions, newest first. */
  published: PublishedEntry[];
  /** The directory is absent or empty: the publish creates it. */
  fresh: boolean;
  /** The kids in PUBLISHED/keys.jwks, and the signing key's. */
  publishedKids: string[];
  kid: string;
}

export interface PublishPlan {
  ref: string;
  version: string;
  group: string | null;
  floor: string | null;
  built: BuiltCommit;
  arch: string;
  parent: PublishedEntry | null;
  deltaFrom: PublishedEntry[];
  expiresInSeconds: number | undefined;
  warnings: string[];
  steps: StepName[];
}

export const DEFAULT_DELTAS = 3;

export function planPublish(i: PlanInputs): PublishPlan {
  const r = i.request;
  checkName('ref', r.ref);
  if (r.group !== undefined) checkName('group', r.group);
  if (!i.fresh && i.publishedKids.length > 0 && !i.publishedKids.includes(i.kid)) {
    throw new OtaError('ERR_OTA_USAGE', `the release key ${i.kid} is not one of this published directory's keys (${i.publishedKids.join(', ')})`, {
      hint: 'sign with the key that published it; to rotate keys, trust the new one first: `ota keys trust PUBLISHED NEW-KEY-DIR`',
    });
  }
  if (!i.built.arch) throw new OtaError('ERR_OTA_USAGE', `commit ${i.built.checksum} has no ota.arch metadata`, { hint: 'publish a commit made by `ota build`' });
  const latest = i.published[0] ?? null;
  const floor = r.minVersion ?? latest?.minVersion ?? null;
  const previousFloor = latest?.minVersion ? { floor: latest.minVersion, version: latest.version } : null;
  const warnings = checkVersion({ version: r.version, published: i.published.map((p) => p.version), floor, previousFloor, force: r.force ?? false });
  return {
    ref: r.ref,
    version: r.version,
    group: r.group ?? null,
    floor,
    built: i.built,
    arch: i.built.arch,
    parent: latest,
    deltaFrom: deltaSources(r, i.published),
    expiresInSeconds: r.expiresInSeconds,
    warnings,
    steps: STEPS.filter((s) => (s === 'init' ? i.fresh : s === 'group' ? r.group !== undefined : true)),
  };
}

function deltaSources(r: PublishRequest, published: PublishedEntry[]): PublishedEntry[] {
  if (r.deltaFrom === undefined) return published.slice(0, r.deltas ?? DEFAULT_DELTAS);
  return [...new Set(r.deltaFrom)].map((v) => {
    const p = published.find((x) => x.version === v);
    if (!p) throw new OtaError('ERR_OTA_USAGE', `--delta-from ${v}: no such published version of ${r.ref}`, { hint: published.length ? `published: ${published.map((x) => x.version).join(', ')}` : 'nothing is published yet' });
    return p;
  });
}
