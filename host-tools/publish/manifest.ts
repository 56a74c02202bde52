import type { LockDiff } from '../lock/lockfile.js';
import type { InstalledPackage } from '../compose/diff.js';
import type { ReleaseSizes } from './sizes.js';

/**
 * The release manifest's document (docs/contract.md and docs/releases.md, "The release
 * manifest"), built from what the publish found; signing adds iat/nbf/exp.
 *
 * @example
 * const doc = releaseDocument({ ref, version, commit, ... });
 */
export interface ReleaseDelta {
  fromVersion: string;
  fromCommit: string;
  bytes: number;
}

export interface ReleaseDocument {
  apiVersion: 'deb-ota/v1';
  kind: 'Release';
  ref: string;
  version: string;
  commit: string;
  subject: string | null;
  board: string | null;
  arch: string;
  minVersion: string | null;
  group: string | null;
  publishedAt: string;
  deltas: ReleaseDelta[];
  fullPullBytes: number;
  unpackedBytes: number;
  packages: { name: string; version: string; arch: string }[];
  changes: { previousVersion: string | null; added: { name: string; version: string }[]; removed: { name: string; version: string }[]; changed: { name: string; from: string; to: string }[] };
}

export interface ReleaseInputs {
  ref: string;
  version: string;
  commit: string;
  subject: string;
  board: string | null;
  arch: string;
  minVersion: string | null;
  group: string | null;
  publishedAt: Date;
  deltas: ReleaseDelta[];
  sizes: ReleaseSizes;
  packages: InstalledPackage[];
  previousVersion: string | null;
  diff: LockDiff;
}

const byNameArch = (a: { name: string; arch: string }, b: { name: string; arch: string }) =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0;

export function releaseDocument(i: ReleaseInputs): ReleaseDocument {
  return {
    apiVersion: 'deb-ota/v1',
    kind: 'Release',
    ref: i.ref,
    version: i.version,
    commit: i.commit,
    subject: i.subject === '' ? null : i.subject,
    board: i.board,
    arch: i.arch,
    minVersion: i.minVersion,
    group: i.group,
    publishedAt: i.publishedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    deltas: i.deltas,
    fullPullBytes: i.sizes.fullPullBytes,
    unpackedBytes: i.sizes.unpackedBytes,
    packages: i.packages.map((p) => ({ name: p.name, version: p.version, arch: p.arch })).sort(byNameArch),
    changes: {
      previousVersion: i.previousVersion,
      added: i.diff.added,
      removed: i.diff.removed,
      changed: i.diff.changed.map((c) => ({ name: c.name, from: c.from, to: c.to })),
    },
  };
}
