import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { loadSigningKey, type SigningKey } from '../../contract/index.js';
import { listGpgKeys } from '../keys/gpg.js';

/**
 * The keys a publish signs with (docs/releases.md, "The trust chain"): the release key (JWK)
 * for manifests, the same key's raw seed for OSTree's ed25519 signatures, and optionally a GPG
 * key for stock clients that verify GPG: DIR/gpg/ when the key was given as a DIR, or
 * --gpg-homedir / --gpg-key-id.
 *
 * @example
 * const keys = await loadPublishKeys('keys/');
 * keys.gpg?.keyId; // the GPG fingerprint, when keys/gpg/ exists
 */
export interface PublishKeys {
  release: SigningKey;
  /** The 32-byte Ed25519 seed, what OSTree's signatures are made with. */
  seed: Buffer;
  gpg?: { homedir: string; keyId: string };
}

export async function loadPublishKeys(path: string, gpg: { homedir?: string; keyId?: string } = {}): Promise<PublishKeys> {
  const release = await loadSigningKey(path);
  const jwk = release.privateKey.export({ format: 'jwk' });
  if (typeof jwk.d !== 'string') throw new Error('an Ed25519 private key without d, this is a bug');
  const seed = Buffer.from(jwk.d, 'base64url');
  const isDir = (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
  const homedir = gpg.homedir ?? (isDir && existsSync(join(path, 'gpg')) ? join(path, 'gpg') : undefined);
  if (!homedir) {
    if (gpg.keyId) throw new OtaError('ERR_OTA_USAGE', '--gpg-key-id needs a GnuPG home: --gpg-homedir, or a key DIR with gpg/', { hint: 'make one with `ota keys generate DIR --gpg`' });
    return { release, seed };
  }
  return { release, seed, gpg: { homedir, keyId: gpg.keyId ?? (await firstSecretKey(homedir)) } };
}

/** The fingerprint of the first key in a GnuPG home (`ota keys generate --gpg` makes one). */
async function firstSecretKey(homedir: string): Promise<string> {
  const fpr = (await listGpgKeys(homedir))[0]?.fingerprint;
  if (!fpr) throw new OtaError('ERR_OTA_KEY', `no GPG key in ${homedir}`, { hint: 'give --gpg-key-id, or make the key with `ota keys generate DIR --gpg`' });
  return fpr;
}
