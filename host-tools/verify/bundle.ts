import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import type { EventSink } from '../../common/events.js';
import { pull, Repo, verifyCommitEd25519 } from '../../node-ostree/index.js';
import { loadTrustedKeys, readSigned, type ReleaseManifest, type TrustedKeys } from '../../contract/index.js';
import { applyBundle, checkBundleParts, openBundle, type Bundle } from '../../bundle/index.js';

/**
 * `ota verify FILE.otab --key PUB` (docs/releases.md, "Bundles"): the manifest verifies with the
 * key, it names the commit the bundle's delta leads to, the parts match the superblock, and,
 * where possible (a whole-commit bundle, or `repo` holding the from-commit), the delta is applied
 * offline into a temporary repository to show it yields that commit, signed, with intact objects.
 * Nothing outside the temporary repository is written.
 *
 * @example
 * const r = await verifyBundle('update.otab', { key: 'keys/', repo: '/ostree/repo' });
 */
export interface BundleReport {
  kind: 'bundle';
  path: string;
  ref: string;
  version: string;
  commit: string;
  from: { version: string; commit: string } | null;
  parts: number;
  /** Whether the delta was applied into a temporary repository, and if not, why. */
  applied: boolean;
  notApplied: string | null;
  problems: string[];
}

async function manifestProblems(b: Bundle, trusted: TrustedKeys, now: Date | undefined): Promise<string[]> {
  let m: ReleaseManifest;
  try {
    m = (await readSigned('release', b.manifestJws, trusted, now ? { now } : {})).doc;
  } catch (e) {
    return [`manifest.jws: ${(e as Error).message}`];
  }
  const problems: string[] = [];
  if (m.commit !== b.commit) problems.push(`manifest.jws is for commit ${m.commit}, the bundle's delta leads to ${b.commit}`);
  if (m.ref !== b.header.ref || m.version !== b.header.version) problems.push(`manifest.jws is ref ${m.ref} version ${m.version}, the bundle's header says ref ${b.header.ref} version ${b.header.version}`);
  return problems;
}

async function applyInTemp(b: Bundle, trusted: TrustedKeys, sourceRepo: string | undefined): Promise<string[]> {
  const work = await mkdtemp(join(tmpdir(), 'ota-verify-'));
  // bare-user, as a device's repository is bare: libostree applies a delta from a previous commit only to those.
  const repo = await Repo.create(join(work, 'repo'), 'bare-user', { disableFsync: true });
  try {
    if (b.superblock.from) await pull(repo, sourceRepo!, { refs: [b.superblock.from] });
    await applyBundle(b, repo);
    const problems: string[] = [];
    const sig = verifyCommitEd25519(repo, b.commit, [...trusted.byKid.values()].map((k) => k.publicKey));
    if (!sig.valid) problems.push(`commit ${b.commit} from the bundle carries no valid ostree.sign.ed25519 signature by a trusted key (${sig.signatures} present)`);
    await repo.fsck(b.commit).catch((e: Error) => problems.push(`commit ${b.commit} from the bundle: damaged object: ${e.message}`));
    return problems;
  } catch (e) {
    return [`applying the bundle's delta: ${(e as Error).message}`];
  } finally {
    repo.close();
    await rm(work, { recursive: true, force: true });
  }
}

export async function verifyBundle(file: string, opts: { key?: string; repo?: string; now?: Date; onEvent?: EventSink }): Promise<BundleReport> {
  if (!opts.key) throw new OtaError('ERR_OTA_USAGE', `verifying bundle ${file} needs --key: a bundle carries no keys of its own`, { hint: 'give the release.pub.jwks devices trust (or its directory)' });
  const trusted = await loadTrustedKeys(opts.key);
  const b = await openBundle(file);
  const problems = [...(await manifestProblems(b, trusted, opts.now)), ...(await checkBundleParts(b))];
  let notApplied: string | null = null;
  if (problems.length > 0) notApplied = 'the checks above failed';
  else if (b.superblock.from && !opts.repo) notApplied = `the delta starts from version ${b.header.from?.version}; give --repo with a repository holding commit ${b.superblock.from}`;
  else if (b.superblock.from && !(await holds(opts.repo!, b.superblock.from))) {
    notApplied = `${opts.repo} does not hold commit ${b.superblock.from} (version ${b.header.from?.version})`;
    problems.push(`${opts.repo} does not hold commit ${b.superblock.from} (version ${b.header.from?.version}) the delta starts from`);
  } else problems.push(...(await applyInTemp(b, trusted, opts.repo)));
  const applied = notApplied === null;
  return { kind: 'bundle', path: file, ref: b.header.ref, version: b.header.version, commit: b.commit, from: b.header.from, parts: b.header.parts, applied, notApplied, problems };
}

async function holds(path: string, commit: string): Promise<boolean> {
  const repo = await Repo.open(path).catch(() => undefined);
  if (!repo) return false;
  try {
    return repo.hasObject('commit', commit);
  } finally {
    repo.close();
  }
}
