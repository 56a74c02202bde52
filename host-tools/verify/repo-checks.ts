import { verify as verifyEd25519, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeCommit, decodeVariant, verifyCommitEd25519, verifyCommitGpg, ED25519_KEY, type GVariantValue, type Repo } from '../../node-ostree/index.js';

/**
 * The repository half of `ota verify PUBLISHED` (docs/releases.md, "Verifying"): each ref's
 * commit chain (ed25519 signatures, GPG ones where present, every object re-hashed by libostree's
 * own fsck), and the signed summary against refs/heads. Each check returns problems as lines and
 * never stops at the first.
 *
 * @example
 * const chains = await checkChains(repo, keys, { gpgKeyring }, problems);
 */
export interface ChainCommit {
  commit: string;
  version: string | undefined;
  board: string | undefined;
  arch: string | undefined;
}

export interface RefChain {
  ref: string;
  head: string;
  /** Newest first. */
  commits: ChainCommit[];
}

export interface RepoCheckOptions {
  keys: KeyObject[];
  /** A GPG public keyring (release.gpg) for commits that carry GPG signatures. */
  gpgKeyring: string | undefined;
  /** Called before each commit is checked, with how many were checked before it. */
  onEvent?: (message: string, current: number) => void;
}

function str(meta: Map<string, GVariantValue>, key: string): string | undefined {
  const v = meta.get(key);
  return v && v.type === 's' ? (v.value as string) : undefined;
}

function hasGpg(repo: Repo, commit: string): boolean {
  const bytes = repo.readDetachedMetadata(commit);
  if (!bytes) return false;
  return (decodeVariant('a{sv}', bytes) as [string, GVariantValue][]).some(([k]) => k === 'ostree.gpgsigs');
}

async function checkCommit(repo: Repo, commit: string, opts: RepoCheckOptions & { seen: Set<string> }, where: string): Promise<string[]> {
  const problems: string[] = [];
  const ed = verifyCommitEd25519(repo, commit, opts.keys);
  if (!ed.valid) problems.push(`${where}: no valid ${ED25519_KEY} signature by a trusted key (${ed.signatures} signature${ed.signatures === 1 ? '' : 's'} present)`);
  if (hasGpg(repo, commit)) {
    if (opts.gpgKeyring) {
      const g = await verifyCommitGpg(repo, commit, { keyring: opts.gpgKeyring }).catch(() => ({ valid: 0, total: 1 }));
      if (g.valid === 0) problems.push(`${where}: none of its ${g.total} GPG signatures verifies with ${opts.gpgKeyring}`);
    }
  }
  try {
    // Objects shared with a commit checked before are not re-hashed.
    await repo.fsck(commit, { seen: opts.seen });
  } catch (e) {
    problems.push(`${where}: damaged object: ${(e as Error).message}`);
  }
  return problems;
}

/** Walks every local ref's chain, newest first, checking each commit once. */
export async function checkChains(repo: Repo, opts: RepoCheckOptions, problems: string[]): Promise<RefChain[]> {
  const chains: RefChain[] = [];
  const checked = new Set<string>();
  const seen = new Set<string>();
  for (const [ref, head] of repo.listRefs()) {
    if (ref.includes(':')) continue;
    const chain: RefChain = { ref, head, commits: [] };
    let next: string | null = head;
    while (next) {
      if (!repo.hasObject('commit', next)) {
        problems.push(`ref ${ref}: commit ${next} is missing from the repository`);
        break;
      }
      const c = decodeCommit(repo.loadVariant('commit', next));
      const entry = { commit: next, version: str(c.metadata, 'version'), board: str(c.metadata, 'ota.board'), arch: str(c.metadata, 'ota.arch') };
      chain.commits.push(entry);
      // publish binds each commit to its ref: a validly signed commit of another ref served under
      // this one (a mix-up or a downgrade by a mirror) is refused by clients, and named here.
      const binding = c.metadata.get('ostree.ref-binding');
      if (binding?.type === 'as' && !(binding.value as string[]).includes(ref)) {
        problems.push(`ref ${ref}: commit ${next} is bound to ${(binding.value as string[]).join(', ')} (ostree.ref-binding), not to ${ref}`);
      }
      if (!checked.has(next)) {
        opts.onEvent?.(`ref ${ref}: commit ${next.slice(0, 12)} (version ${entry.version ?? 'none'})`, checked.size);
        checked.add(next);
        problems.push(...(await checkCommit(repo, next, { ...opts, seen }, `ref ${ref}, commit ${next} (version ${entry.version ?? 'none'})`)));
      }
      next = c.parent;
    }
    chains.push(chain);
  }
  return chains;
}

const SUMMARY_TYPE = '(a(s(taya{sv}))a{sv})';

/** summary.sig against summary, and the summary's refs against refs/heads. Returns the summary's delta table (name -> superblock checksum). */
export async function checkSummary(repo: Repo, keys: KeyObject[], problems: string[]): Promise<Map<string, string>> {
  const deltas = new Map<string, string>();
  const summary = await readFile(join(repo.path, 'summary')).catch(() => undefined);
  if (!summary) {
    problems.push(`${join(repo.path, 'summary')} is missing`);
    return deltas;
  }
  const sig = await readFile(join(repo.path, 'summary.sig')).catch(() => undefined);
  if (!sig) problems.push(`${join(repo.path, 'summary.sig')} is missing: the summary is not signed`);
  else if (!summaryVerifies(summary, sig, keys)) problems.push(`summary.sig does not verify the summary with a trusted key`);
  let decoded: [[string, [bigint, Buffer, unknown]][], [string, GVariantValue][]];
  try {
    decoded = decodeVariant(SUMMARY_TYPE, summary) as typeof decoded;
  } catch (e) {
    problems.push(`the summary does not decode: ${(e as Error).message}`);
    return deltas;
  }
  const inSummary = new Map(decoded[0].map(([name, [, sum]]) => [name, sum.toString('hex')]));
  const heads = new Map([...repo.listRefs()].filter(([r]) => !r.includes(':')));
  for (const [ref, sum] of heads) {
    if (!inSummary.has(ref)) problems.push(`the summary does not list ref ${ref}`);
    else if (inSummary.get(ref) !== sum) problems.push(`the summary says ref ${ref} is ${inSummary.get(ref)}, refs/heads says ${sum}`);
  }
  for (const ref of inSummary.keys()) if (!heads.has(ref)) problems.push(`the summary lists ref ${ref}, which refs/heads does not have`);
  const table = decoded[1].find(([k]) => k === 'ostree.static-deltas')?.[1];
  if (table && table.type === 'a{sv}') {
    for (const [name, v] of table.value as [string, GVariantValue][]) if (Buffer.isBuffer(v.value)) deltas.set(name, v.value.toString('hex'));
  }
  return deltas;
}

function summaryVerifies(summary: Buffer, sig: Buffer, keys: KeyObject[]): boolean {
  let entries: [string, GVariantValue][];
  try {
    entries = decodeVariant('a{sv}', sig) as [string, GVariantValue][];
  } catch {
    return false;
  }
  const e = entries.find(([k]) => k === ED25519_KEY)?.[1];
  if (!e || e.type !== 'aay') return false;
  return (e.value as Buffer[]).some((s) => s.length === 64 && keys.some((k) => verifyEd25519(null, summary, k, s)));
}
