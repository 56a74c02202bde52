import { applyBundle, openBundle, type Bundle } from '../../bundle/index.js';
import { OtaError, withContext } from '../../common/errors.js';
import { silent, type EventSink } from '../../common/events.js';
import { readSigned, type TrustedKeys } from '../../contract/index.js';
import { verifyCommitEd25519, type Repo, type Sysroot } from '../../node-ostree/index.js';
import { withRepo } from './current.js';

/**
 * `ota-agent install FILE`: an update from an offline bundle (`ota bundle`, docs/releases.md,
 * "Bundles") instead of the network. `bundleRefusal` is preflight's extra check (reason
 * `bundle`): the bundle must carry the commit the verified manifest names, and its delta must
 * start at the running commit or hold the whole commit. `installFromBundle` is the download step:
 * open and check the bundle, apply its delta offline into the sysroot's repository, verify the
 * commit's ed25519 signature with the trusted keys exactly as a pulled commit's
 * (docs/agent.md, "Applying an update"), and only then set the release's ref. A damaged part is
 * found before anything is written; an unsigned commit is left unreferenced, never deployed.
 *
 * @example
 * const r = bundleRefusal(await openBundle(file), { commit: manifest.commit, fromCommit: running });
 * if (r) return { verdict: 'refused', reason: r.reason };
 * await installFromBundle({ bundlePath: file, sysroot, trusted, expect: { commit: manifest.commit, fromCommit: running } });
 */
export interface BundleExpectation {
  /** The commit the verified release manifest (the update's record) names. */
  commit: string;
  /** The commit running when the update began; null when nothing runs (only a whole-commit bundle fits). */
  fromCommit: string | null;
}

export interface InstallFromBundleInput {
  /** Absolute path of the bundle file. */
  bundlePath: string;
  sysroot: Sysroot;
  trusted: TrustedKeys;
  expect: BundleExpectation;
  onEvent?: EventSink;
  /** The clock the manifest's expiry is checked against (default: now); the engine passes its own. */
  now?: Date;
  /** The manifest's expiry was checked when the release was accepted (the engine's preflight): not again. */
  expiryChecked?: boolean;
}

export interface InstallFromBundleResult {
  commit: string;
  /** The release's ref, now pointing at `commit` in the sysroot's repository. */
  ref: string;
  version: string;
  /** `delta`: from the running commit; `whole`: the bundle held the whole commit. */
  via: 'delta' | 'whole';
}

/** Same shape as preflight's Refusal, with the reason this check gives. */
export interface BundleRefusal {
  reason: 'bundle';
  message: string;
  hint: string;
}

/** Preflight's check of an opened bundle against the update (no I/O): a refusal, or null when it fits. */
export function bundleRefusal(bundle: Pick<Bundle, 'path' | 'commit' | 'header'>, expect: BundleExpectation): BundleRefusal | null {
  if (bundle.commit !== expect.commit) {
    return {
      reason: 'bundle',
      message: `${bundle.path} holds commit ${bundle.commit} (version ${bundle.header.version}), the release names ${expect.commit}`,
      hint: 'use the bundle made for this release (`ota bundle --version V`)',
    };
  }
  const from = bundle.header.from;
  if (from !== null && from.commit !== expect.fromCommit) {
    return {
      reason: 'bundle',
      message: `${bundle.path} updates from version ${from.version} (commit ${from.commit}), this device runs ${expect.fromCommit ?? 'no deployment'}`,
      hint: 'make a bundle from the version the device runs (`ota bundle --from V0`), or one of the whole commit (without --from)',
    };
  }
  return null;
}

/** The refusal as the error preflight's refusals are (ERR_OTA_REFUSED, `reason: bundle` in its details). */
export function bundleRefusalError(r: BundleRefusal): OtaError {
  return new OtaError('ERR_OTA_REFUSED', `update refused (${r.reason}): ${r.message}`, { hint: r.hint, details: [`reason: ${r.reason}`] });
}

/**
 * Installs the bundle's commit into the sysroot's repository; running it again after a cut does
 * the same work again and lands in the same place (objects already written are kept).
 *
 * @throws OtaError `ERR_OTA_BUNDLE` (structure), `ERR_OTA_REFUSED` (bundleRefusal), the contract's
 *   errors for a manifest that does not verify, `ERR_OTA_HASH` for a damaged part (nothing written),
 *   `ERR_OTA_SIGNATURE` for a commit no trusted key signed (no ref set).
 */
export async function installFromBundle(input: InstallFromBundleInput): Promise<InstallFromBundleResult> {
  const emit = input.onEvent ?? silent;
  const bundle = await openBundle(input.bundlePath);
  const refusal = bundleRefusal(bundle, input.expect);
  if (refusal) throw bundleRefusalError(refusal);
  const read = { ...(input.now ? { now: input.now } : {}), ...(input.expiryChecked ? { checkExpiry: false } : {}) };
  const { doc: release } = await readSigned('release', bundle.manifestJws, input.trusted, read).catch((e: unknown) => {
    throw withContext(e, `the manifest in ${bundle.path}`);
  });
  if (release.commit !== bundle.commit) {
    throw new OtaError('ERR_OTA_BUNDLE', `${bundle.path} is not a valid bundle: its manifest names commit ${release.commit}, its delta carries ${bundle.commit}`, { hint: 'make the bundle again with `ota bundle`' });
  }
  const via = bundle.header.from === null ? 'whole' : 'delta';
  emit({ phase: 'import', message: `applying ${bundle.path} (${via === 'delta' ? `delta from ${bundle.header.from?.version}` : 'the whole commit'}) for ${release.ref} ${release.version}`, total: bundle.header.parts });
  await withRepo(input.sysroot, async (repo) => {
    await applyBundle(bundle, repo).catch((e: unknown) => {
      throw withContext(e, `installing ${release.ref} ${release.version} from ${bundle.path}`);
    });
    requireTrustedSignature(repo, input.trusted, { commit: bundle.commit, name: `${release.ref} ${release.version}` });
    repo.setRef(release.ref, bundle.commit);
  });
  return { commit: bundle.commit, ref: release.ref, version: release.version, via };
}

/**
 * The commit must carry an ed25519 signature by a trusted key, as download.ts requires of a pulled
 * one. On a refusal the detached metadata the bundle brought is removed when no ref reaches the
 * commit, so that a genuine bundle of the same commit later brings its own signature again.
 */
function requireTrustedSignature(repo: Repo, trusted: TrustedKeys, c: { commit: string; name: string }): void {
  const check = verifyCommitEd25519(repo, c.commit, [...trusted.byKid.values()].map((k) => k.publicKey));
  if (check.valid) return;
  if (![...repo.listRefs().values()].includes(c.commit)) repo.writeDetachedMetadata(c.commit, undefined);
  throw new OtaError('ERR_OTA_SIGNATURE', `commit ${c.commit} of release ${c.name} has no ed25519 signature by a trusted key (${check.signatures} signature(s) checked)`, {
    hint: 'the bundle was made from a repository signed with a key this device does not trust; it is not deployed',
  });
}
