import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Repo } from '../../node-ostree/index.js';
import { readSigned, type ReleaseManifest, type TrustedKeys } from '../../contract/index.js';
import { measureDelta } from '../publish/delta.js';
import { releaseSizes, type ReleaseSizes } from '../publish/sizes.js';
import { listGroups, listReleases } from '../bundle/published-dir.js';
import type { RefChain } from './repo-checks.js';

/**
 * The manifests of a published directory against its repository (docs/releases.md,
 * "Verifying"): each releases/<ref>/<version>.jws must verify (signature, kind, expiry, schema,
 * all through the contract's readSigned) and say what the repository holds: its commit in the
 * ref's chain with that version, board and arch as the commit's metadata says, each delta present
 * with the size a device downloads. Each groups/<group>/release.jws must verify and be one of the
 * published releases.
 *
 * @example
 * const counts = await checkReleases({ dir, repo, chains, trusted }, problems);
 */
export interface ReleaseCheckInput {
  dir: string;
  repo: Repo;
  chains: RefChain[];
  trusted: TrustedKeys;
  now?: Date;
}

async function verified(input: ReleaseCheckInput, file: string, problems: string[]): Promise<ReleaseManifest | undefined> {
  const where = relative(input.dir, file);
  try {
    const jws = (await readFile(file, 'utf8')).trim();
    return (await readSigned('release', jws, input.trusted, input.now ? { now: input.now } : {})).doc;
  } catch (e) {
    problems.push(`${where}: ${(e as Error).message}`);
    return undefined;
  }
}

async function checkClaims(input: ReleaseCheckInput, where: string, m: ReleaseManifest): Promise<string[]> {
  const problems: string[] = [];
  const chain = input.chains.find((c) => c.ref === m.ref);
  const c = chain?.commits.find((x) => x.commit === m.commit);
  if (!chain) problems.push(`${where}: ref ${m.ref} is not in the repository`);
  else if (!c) problems.push(`${where}: commit ${m.commit} is not in the chain of ref ${m.ref}`);
  else {
    if (c.version !== m.version) problems.push(`${where}: says version ${m.version}, commit ${m.commit} has version ${c.version ?? 'none'}`);
    if ((c.board ?? null) !== m.board) problems.push(`${where}: says board ${m.board ?? 'none'}, the commit's ota.board is ${c.board ?? 'none'}`);
    if (c.arch !== undefined && c.arch !== m.arch) problems.push(`${where}: says arch ${m.arch}, the commit's ota.arch is ${c.arch}`);
  }
  // A missing object is named by the chain's fsck; here it only means the sizes are unknown.
  let sizes: ReleaseSizes | undefined;
  if (c) {
    try {
      sizes = await releaseSizes(input.repo, m.commit);
    } catch (e) {
      problems.push(`${where}: its sizes could not be measured: ${(e as Error).message}`);
    }
  }
  if (sizes) {
    if (sizes.fullPullBytes !== m.fullPullBytes) problems.push(`${where}: says a full pull is ${m.fullPullBytes} bytes, the repository's objects of the commit are ${sizes.fullPullBytes}`);
    if (sizes.unpackedBytes !== m.unpackedBytes) problems.push(`${where}: says the deployment needs ${m.unpackedBytes} bytes unpacked, the commit's tree needs ${sizes.unpackedBytes}`);
  }
  for (const d of m.deltas) {
    const measured = await measureDelta(input.repo, d.fromCommit, m.commit).catch(() => undefined);
    if (!measured) problems.push(`${where}: its delta from ${d.fromVersion} (${d.fromCommit}) is not in the repository`);
    else if (measured.bytes !== d.bytes) problems.push(`${where}: its delta from ${d.fromVersion} downloads ${measured.bytes} bytes, the manifest says ${d.bytes}`);
  }
  return problems;
}

export async function checkReleases(input: ReleaseCheckInput, problems: string[]): Promise<{ releases: number; groups: number }> {
  const releases = await listReleases(input.dir);
  // Publish writes a version's manifest before its ref moves, so every version in a chain has one.
  const files = new Set(releases.map((r) => `${r.ref}\n${r.version}`));
  for (const chain of input.chains) {
    for (const c of chain.commits) {
      const where = `ref ${chain.ref}, commit ${c.commit} (version ${c.version ?? 'none'})`;
      if (c.version !== undefined && !files.has(`${chain.ref}\n${c.version}`)) problems.push(`${where}: ${join('releases', chain.ref, `${c.version}.jws`)} is missing`);
    }
  }
  const good = new Map<string, ReleaseManifest>();
  for (const r of releases) {
    const where = relative(input.dir, r.file);
    const m = await verified(input, r.file, problems);
    if (!m) continue;
    if (m.ref !== r.ref || m.version !== r.version) problems.push(`${where}: it holds ref ${m.ref} version ${m.version}, its path says ref ${r.ref} version ${r.version}`);
    problems.push(...(await checkClaims(input, where, m)));
    good.set(`${m.ref}\n${m.version}`, m);
  }
  const groups = await listGroups(input.dir);
  for (const g of groups) {
    const where = relative(input.dir, g.file);
    const m = await verified(input, g.file, problems);
    if (!m) continue;
    const published = good.get(`${m.ref}\n${m.version}`);
    if (!published) problems.push(`${where}: announces ref ${m.ref} version ${m.version}, which is not a published release that verifies`);
    else if (published.commit !== m.commit) problems.push(`${where}: announces commit ${m.commit} for version ${m.version}, the published release says ${published.commit}`);
    if (m.group !== null && m.group !== g.group) problems.push(`${where}: is for group ${m.group}, it sits under group ${g.group}`);
  }
  return { releases: releases.length, groups: groups.length };
}
