import { OtaError } from '../../common/errors.js';
import { parseStanzas } from '../apt/control.js';
import { diffLocks, type LockDiff } from '../lock/lockfile.js';
import { catFile, diffCommits, type Repo, type TreeDiff } from '../../node-ostree/index.js';
import { DPKG_DB } from './layout.js';
import { findCommit } from './find-commit.js';

/**
 * What changed between two built commits: packages from each tree's own dpkg status (added,
 * removed, upgraded old -> new), then files from the trees (identical subtrees skipped unread).
 *
 * @example
 * const d = await diffImages(repo, 'gateway/arm64', 'a5d32d7b...');
 * d.packages.changed; // [{ name: 'libc6', from: '2.36-9+deb12u13', to: '2.36-9+deb12u14', direction: 'upgrade' }]
 */
export interface ImageDiff {
  from: string;
  to: string;
  packages: LockDiff;
  files: TreeDiff;
}

export async function diffImages(repo: Repo, from: string, to: string): Promise<ImageDiff> {
  const a = resolve(repo, from);
  const b = resolve(repo, to);
  const [pa, pb] = [await installed(repo, a, from), await installed(repo, b, to)];
  return { from: a, to: b, packages: diffLocks(pa, pb), files: diffCommits(repo, a, b) };
}

function resolve(repo: Repo, rev: string): string {
  return findCommit(repo, rev).checksum;
}

/** One installed package of a commit, from its dpkg status. */
export interface InstalledPackage {
  name: string;
  version: string;
  arch: string;
  /** Multi-Arch: same: several architectures of it may be installed at once. */
  multiArchSame: boolean;
}

/**
 * The installed packages of a commit, from the tree's own dpkg status (ota build moves the
 * database to /usr/lib/sysimage/dpkg), in the status file's order.
 *
 * @example
 * const pkgs = await installedPackages(repo, checksum, 'gateway/arm64');
 */
export async function installedPackages(repo: Repo, checksum: string, label: string): Promise<InstalledPackage[]> {
  let text: string | undefined;
  for (const p of [`/${DPKG_DB}/status`, '/var/lib/dpkg/status']) {
    text = await catFile(repo, checksum, p).then((b) => b.toString('utf8')).catch(() => undefined);
    if (text !== undefined) break;
  }
  if (text === undefined) throw new OtaError('ERR_OTA_USAGE', `${label} has no dpkg database (/${DPKG_DB}/status or /var/lib/dpkg/status)`, { hint: 'ota diff and ota publish take commits made by `ota build`' });
  const out: InstalledPackage[] = [];
  for (const s of parseStanzas(text)) {
    if (!/ installed$/.test(s.get('Status') ?? '')) continue;
    out.push({ name: s.get('Package')!, version: s.get('Version') ?? '', arch: s.get('Architecture') ?? '', multiArchSame: s.get('Multi-Arch') === 'same' });
  }
  return out;
}

/** Installed packages as name[:arch] (the arch for Multi-Arch: same) -> version, what diffLocks compares. */
export function packageMap(pkgs: InstalledPackage[]): Map<string, { version: string; sha256: string }> {
  return new Map(pkgs.map((p) => [p.multiArchSame ? `${p.name}:${p.arch}` : p.name, { version: p.version, sha256: p.version }]));
}

async function installed(repo: Repo, checksum: string, label: string): Promise<Map<string, { version: string; sha256: string }>> {
  return packageMap(await installedPackages(repo, checksum, label));
}
