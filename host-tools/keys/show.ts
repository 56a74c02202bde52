import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { isMissing } from '../../common/fs-errors.js';
import { KEY_FILES, loadSigningKey, loadTrustedKeys, type SigningKey, type TrustedKeys } from '../../contract/index.js';
import { reportOf, type KeysReport } from './generate.js';
import { listGpgKeys } from './gpg.js';

/**
 * `ota keys show DIR|FILE`: the public parts of a key directory, a release.jwk, or a public JWK
 * (set): kid, public JWK, ostree's base64 public key and, in a directory with a GPG home, the GPG
 * fingerprint. Never a private part. In a directory the files must agree with each other.
 *
 * @throws OtaError `ERR_OTA_KEY` when nothing there is a key, or the files disagree.
 * @example
 * const r = await showKeys('keys');
 */
export async function showKeys(path: string): Promise<KeysReport> {
  const isDir = (await stat(path).catch(() => undefined))?.isDirectory() === true;
  if (!isDir) return showFile(path);
  const signing = await optional(join(path, KEY_FILES.privateJwk), loadSigningKey);
  const trusted = await optional(join(path, KEY_FILES.publicJwks), loadTrustedKeys);
  if (signing === undefined && trusted === undefined) {
    throw new OtaError('ERR_OTA_KEY', `${path} holds no release key (neither ${KEY_FILES.privateJwk} nor ${KEY_FILES.publicJwks})`, { hint: 'make one with `ota keys generate DIR`' });
  }
  if (signing !== undefined && trusted !== undefined && !trusted.byKid.has(signing.kid)) {
    throw new OtaError('ERR_OTA_KEY', `${path}: ${KEY_FILES.publicJwks} does not hold the public half of ${KEY_FILES.privateJwk} (kid ${signing.kid})`, { hint: 'the files come from different keys; generate again with --force, or restore them' });
  }
  const report = signing !== undefined ? reportOf(path, signing, null) : trustedReport(path, trusted!);
  await checkOstreePublic(path, report);
  const gpgHome = join(path, KEY_FILES.gpgHome);
  const gpgKeys = (await stat(gpgHome).catch(() => undefined))?.isDirectory() === true ? await listGpgKeys(gpgHome) : [];
  return { ...report, gpg: gpgKeys[0] ?? null };
}

async function showFile(path: string): Promise<KeysReport> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch {
    // loadTrustedKeys words the error: missing file, not JSON.
    return trustedReport(path, await loadTrustedKeys(path));
  }
  const isPrivate = typeof json === 'object' && json !== null && 'd' in json;
  return isPrivate ? reportOf(path, await loadSigningKey(path), null) : trustedReport(path, await loadTrustedKeys(path));
}

function trustedReport(path: string, trusted: TrustedKeys): KeysReport {
  const keys = [...trusted.byKid.values()].map((k) => ({
    kid: k.kid,
    publicJwk: k.publicJwk,
    ostreePublicKey: Buffer.from(k.publicJwk.x!, 'base64url').toString('base64'),
  }));
  return { path, kid: keys[0]!.kid, keys, privateKey: false, gpg: null };
}

/** ostree-ed25519.pub, when present, must be the same key as the JWK: it is what stock ostree checks. */
async function checkOstreePublic(dir: string, report: KeysReport): Promise<void> {
  const file = join(dir, KEY_FILES.ostreePublic);
  const text = await readFile(file, 'utf8').catch((e: unknown) => {
    if (isMissing(e)) return undefined;
    throw e;
  });
  if (text === undefined) return;
  if (!report.keys.some((k) => k.ostreePublicKey === text.trim())) {
    throw new OtaError('ERR_OTA_KEY', `${file} is not the release key's public key (kid ${report.kid})`, { hint: 'the files come from different keys; generate again with --force, or restore them' });
  }
}

async function optional<T extends SigningKey | TrustedKeys>(file: string, load: (f: string) => Promise<T>): Promise<T | undefined> {
  try {
    await stat(file);
  } catch (e) {
    if (isMissing(e)) return undefined;
  }
  return load(file);
}
