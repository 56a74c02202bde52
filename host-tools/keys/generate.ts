import { randomBytes } from 'node:crypto';
import { lstat, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { OtaError } from '../../common/errors.js';
import { fsReason, isMissing } from '../../common/fs-errors.js';
import { generateSigningKey, KEY_FILES, ostreeKeyText, type SigningKey } from '../../contract/index.js';
import { exportGpgPublicKey, makeGpgSigningKey } from './gpg.js';
import { keyFileNames, keyFilesOf } from './key-files.js';

export interface GenerateKeysOptions {
  /** Also make a GPG signing key in DIR/gpg and export it to DIR/release.gpg. */
  gpg?: boolean;
  /** Replace keys already in DIR (without it, any of them is a refusal and nothing changes). */
  force?: boolean;
  /** The GPG key's user id (default: "deb-ota release key <kid>"). */
  gpgUid?: string;
}

/** What a key directory holds, public parts only: what `ota keys generate` and `ota keys show` report. */
export interface KeysReport {
  path: string;
  kid: string;
  keys: { kid: string; publicJwk: object; ostreePublicKey: string }[];
  privateKey: boolean;
  gpg: { fingerprint: string; uid: string | null } | null;
}

/**
 * `ota keys generate DIR`: a new Ed25519 release key in the files of
 * docs/releases.md, "The trust chain" (private files 0600, each written atomically), and with `gpg` a GPG key made in a
 * staging home and moved into DIR/gpg only once it exists. Existing keys are refused before
 * anything is written unless `force`.
 *
 * @throws OtaError `ERR_OTA_KEY` when DIR already holds keys (without force) or is not a directory.
 * @example
 * const r = await generateKeys('keys', { gpg: true });
 */
export async function generateKeys(dir: string, opts: GenerateKeysOptions = {}): Promise<KeysReport> {
  const existing = await presentNames(dir, keyFileNames(opts.gpg === true));
  if (existing.length > 0 && opts.force !== true) {
    throw new OtaError('ERR_OTA_KEY', `${dir} already holds keys: ${existing.join(', ')}`, {
      hint: 'keep them, or pass --force to replace them (devices that trust only the old key then refuse what the new one signs)',
    });
  }
  const created = await makeKeyDir(dir);
  const key = await generateSigningKey();
  let gpg: StagedGpg | null = null;
  try {
    if (opts.gpg === true) gpg = await stageGpg(dir, opts.gpgUid ?? `deb-ota release key ${key.kid}`);
  } catch (e) {
    // Bad input changes nothing: a key directory this call made goes again with its failure.
    if (created !== undefined) await rm(created, { recursive: true, force: true });
    throw e;
  }
  try {
    for (const f of keyFilesOf(key)) await writeFileAtomic(join(dir, f.name), f.content, f.mode);
    if (gpg !== null) {
      await swapIn(gpg.staged, join(dir, KEY_FILES.gpgHome));
      await writeFileAtomic(join(dir, KEY_FILES.gpgPublic), gpg.keyring, 0o644);
    }
  } finally {
    if (gpg !== null) await rm(gpg.staged, { recursive: true, force: true });
  }
  return reportOf(dir, key, gpg === null ? null : { fingerprint: gpg.fingerprint, uid: gpg.uid });
}

/** The public report of a signing key (shared with `ota keys show`). */
export function reportOf(path: string, key: SigningKey, gpg: KeysReport['gpg']): KeysReport {
  const ostreePublicKey = ostreeKeyText(key).public.trim();
  return { path, kid: key.kid, keys: [{ kid: key.kid, publicJwk: key.publicJwk, ostreePublicKey }], privateKey: true, gpg };
}

async function presentNames(dir: string, names: string[]): Promise<string[]> {
  const present: string[] = [];
  for (const name of names) {
    try {
      await lstat(join(dir, name));
      present.push(name);
    } catch (e) {
      if (!isMissing(e)) throw new OtaError('ERR_OTA_KEY', `cannot look into ${dir}: ${fsReason(e)}`, { cause: e });
    }
  }
  return present;
}

/** Makes DIR (0700) where missing; returns the first directory it made, if any. */
async function makeKeyDir(dir: string): Promise<string | undefined> {
  try {
    // 0700: the directory holds private keys (an existing directory keeps its mode).
    const created = await mkdir(dir, { recursive: true, mode: 0o700 });
    if (!(await lstat(dir)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    return created;
  } catch (e) {
    throw new OtaError('ERR_OTA_KEY', `cannot make the key directory ${dir}: ${fsReason(e)}`, { hint: 'name a directory (new or existing) for the keys', cause: e });
  }
}

interface StagedGpg {
  staged: string;
  fingerprint: string;
  uid: string;
  keyring: Buffer;
}

async function stageGpg(dir: string, uid: string): Promise<StagedGpg> {
  // Short name: gpg-agent's socket path inside it must stay under 108 bytes.
  const staged = join(dir, `.g${randomBytes(3).toString('hex')}`);
  try {
    const fingerprint = await makeGpgSigningKey(staged, uid);
    return { staged, fingerprint, uid, keyring: await exportGpgPublicKey(staged, fingerprint) };
  } catch (e) {
    await rm(staged, { recursive: true, force: true });
    throw e;
  }
}

/** Moves `staged` to `target`, replacing a directory there (rename cannot replace a non-empty one). */
async function swapIn(staged: string, target: string): Promise<void> {
  const old = `${target}.old-${randomBytes(3).toString('hex')}`;
  const hadOld = await rename(target, old).then(
    () => true,
    (e: unknown) => {
      if (isMissing(e)) return false;
      throw e;
    },
  );
  await rename(staged, target);
  if (hadOld) await rm(old, { recursive: true, force: true });
}
