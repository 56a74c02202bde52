import type { ReleaseDelta, ReleaseManifest } from '../../contract/index.js';
import type { LockDiff } from '../lock/lockfile.js';
import type { InstalledPackage } from '../compose/diff.js';
import type { ReleaseSizes } from './sizes.js';

/**
 * The release manifest's document, as docs/contract.md defines it
 * (docs/releases.md, "The release manifest"), built from what the publish found; signing adds iat/nbf/exp.
 *
 * @example
 * const doc = releaseDocument({ ref, version, commit, ... });
 */
export type ReleaseDocument = ReleaseManifest;

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

/** The diff names a Multi-Arch: same package name:arch; the manifest's names are package names. */
const plain = (name: string) => name.replace(/:.*$/, '');

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
      added: i.diff.added.map((a) => ({ name: plain(a.name), version: a.version })),
      removed: i.diff.removed.map((r) => ({ name: plain(r.name), version: r.version })),
      changed: i.diff.changed.map((c) => ({ name: plain(c.name), from: c.from, to: c.to })),
    },
  };
}
