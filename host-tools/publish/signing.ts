import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, CompactSign, type JWK } from 'jose';
import { OtaError } from '../../common/errors.js';

/**
 * Stand-in for contract/'s key loading and signing until that module lands: same names and
 * shapes, so switching is an import change.
 */
export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: JWK;
}

export async function loadSigningKey(path: string): Promise<SigningKey> {
  const file = (await stat(path).catch(() => undefined))?.isDirectory() ? join(path, 'release.jwk') : path;
  const text = await readFile(file, 'utf8').catch((e: unknown) => {
    throw new OtaError('ERR_OTA_USAGE', `cannot read the release key ${file}: ${(e as Error).message}`, { hint: 'make one with `ota keys generate DIR` and pass --key DIR', cause: e });
  });
  let jwk: JWK;
  let privateKey: KeyObject;
  try {
    jwk = JSON.parse(text) as JWK;
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string') throw new Error('not a private Ed25519 JWK');
    privateKey = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch (e) {
    throw new OtaError('ERR_OTA_USAGE', `${file} is not a private Ed25519 JWK: ${(e as Error).message}`, { hint: 'give the release.jwk `ota keys generate` made (or its DIR)', cause: e });
  }
  const pub = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const publicJwk: JWK = { kty: 'OKP', crv: 'Ed25519', x: pub.x, alg: 'EdDSA', use: 'sig' };
  const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: pub.x! }, 'sha256');
  return { kid, privateKey, publicJwk: { ...publicJwk, kid } };
}

export async function signDocument(kind: 'release', doc: object, key: SigningKey, opts: { now?: Date; expiresInSeconds?: number } = {}): Promise<string> {
  const iat = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const payload = { ...doc, iat, nbf: iat, exp: iat + (opts.expiresInSeconds ?? 90 * 86400) };
  return new CompactSign(Buffer.from(JSON.stringify(payload))).setProtectedHeader({ alg: 'EdDSA', typ: `deb-ota-${kind}+jws`, kid: key.kid }).sign(key.privateKey);
}
