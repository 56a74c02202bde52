import { sign } from 'node:crypto';
import { mkdir, readFile, rm, symlink, writeFile, copyFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { decodeVariant, ED25519_KEY, encodeVariant, GVariantValue, regenerateSummary, Repo, signSummaryGpg } from '../../node-ostree/index.js';
import type { PublishKeys } from './keys.js';

/**
 * The summary and its signature, swapped in without a moment where summary.sig does not verify
 * summary (docs/releases.md, "The published directory"). libostree's regenerate deletes
 * summary.sig before it writes the summary, so the new summary is made in a staging repository
 * beside repo/ (its objects/ and deltas/ are links to repo/'s, its refs are the new ones), signed
 * there, and then installed: first a summary.sig holding the old and the new ed25519 signatures
 * (a client accepts any one that verifies) and the old GPG ones, then the summary, then a
 * summary.sig with the new signatures only. GPG clients refuse a summary.sig with any BAD
 * signature in it, so for them there is no signature file good for both summaries: their
 * window is the instant between the last two renames.
 *
 * @example
 * const staged = await stageSummary(publishedRoot, refs, keys);
 * await installSignature(repoPath, staged, { keepOld: true });
 */
export interface StagedSummary {
  summary: Buffer;
  ed25519: Buffer[];
  gpg: Buffer[];
}

const GPG_KEY = 'ostree.gpgsigs';
export const STAGE_DIR = '.ota-summary-stage';

/** Makes and signs the summary of `refs` (ref -> commit: all refs of repo/ after the publish). */
export async function stageSummary(root: string, refs: Map<string, string>, keys: PublishKeys): Promise<StagedSummary> {
  const stage = join(root, STAGE_DIR);
  await rm(stage, { recursive: true, force: true });
  for (const d of ['refs/heads', 'refs/remotes', 'refs/mirrors', 'tmp', 'state', 'extensions']) await mkdir(join(stage, d), { recursive: true });
  await copyFile(join(root, 'repo', 'config'), join(stage, 'config'));
  for (const d of ['objects', 'deltas', 'delta-indexes']) {
    await mkdir(join(root, 'repo', d), { recursive: true });
    await symlink(join('..', 'repo', d), join(stage, d));
  }
  for (const [ref, commit] of refs) {
    await mkdir(dirname(join(stage, 'refs/heads', ref)), { recursive: true });
    await writeFile(join(stage, 'refs/heads', ref), `${commit}\n`);
  }
  const repo = await Repo.open(stage);
  try {
    await regenerateSummary(repo);
    if (keys.gpg) await signSummaryGpg(repo, keys.gpg.keyId, keys.gpg.homedir);
  } finally {
    repo.close();
  }
  const summary = await readFile(join(stage, 'summary'));
  const gpg = keys.gpg ? signaturesIn(await readFile(join(stage, 'summary.sig')), GPG_KEY) : [];
  return { summary, ed25519: [sign(null, summary, keys.release.privateKey)], gpg };
}

function signaturesIn(bytes: Buffer, key: string): Buffer[] {
  const entries = decodeVariant('a{sv}', bytes) as [string, GVariantValue][];
  const e = entries.find(([k]) => k === key);
  return e && e[1].type === 'aay' ? (e[1].value as Buffer[]) : [];
}

/** summary.sig as ostree reads it: an a{sv} with `ostree.sign.ed25519` and `ostree.gpgsigs` (aay each). */
export function signatureFile(ed25519: Buffer[], gpg: Buffer[]): Buffer {
  const entries: [string, GVariantValue][] = [];
  if (ed25519.length > 0) entries.push([ED25519_KEY, new GVariantValue('aay', ed25519)]);
  if (gpg.length > 0) entries.push([GPG_KEY, new GVariantValue('aay', gpg)]);
  entries.sort(([a], [b]) => (a < b ? -1 : 1));
  return encodeVariant('a{sv}', entries);
}

/** Writes repo/summary.sig with the staged signatures; with `keepOld`, the current ed25519 ones too and the current GPG ones instead of the new. */
export async function installSignature(repoPath: string, staged: StagedSummary, options: { keepOld: boolean }): Promise<void> {
  const path = join(repoPath, 'summary.sig');
  let ed = staged.ed25519;
  let gpg = staged.gpg;
  if (options.keepOld) {
    const old = await readFile(path).catch(() => undefined);
    if (old) {
      ed = [...signaturesIn(old, ED25519_KEY), ...ed];
      gpg = signaturesIn(old, GPG_KEY);
    }
  }
  await writeFileAtomic(path, signatureFile(ed, gpg));
}

export async function installSummary(repoPath: string, staged: StagedSummary): Promise<void> {
  await writeFileAtomic(join(repoPath, 'summary'), staged.summary);
}

export async function removeStage(root: string): Promise<void> {
  await rm(join(root, STAGE_DIR), { recursive: true, force: true });
}
