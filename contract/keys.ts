import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { OtaError } from '../common/errors.js';
import { fsReason } from '../common/fs-errors.js';

/** File names in a key directory (docs/releases.md, "The trust chain"). */
export const KEY_FILES = {
  privateJwk: 'release.jwk',
  publicJwks: 'release.pub.jwks',
  ostreeSecret: 'ostree-ed25519.sec',
  ostreePublic: 'ostree-ed25519.pub',
  gpgHome: 'gpg',
  gpgPublic: 'release.gpg',
} as const;

/** The release key, able to sign. `privateKey` never leaves the process except into release.jwk. */
export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: JWK;
}

/** A key a reader trusts, by kid. */
export interface TrustedKey {
  kid: string;
  publicKey: KeyObject;
  publicJwk: JWK;
}

/** Several trusted keys at once, so keys can rotate; readSigned picks one by the JWS's kid. */
export interface TrustedKeys {
  readonly byKid: ReadonlyMap<string, TrustedKey>;
}

const HINT_GENERATE = 'make a release key with `ota keys generate DIR`';

/**
 * A key's id: its RFC 7638 JWK thumbprint (SHA-256, base64url), so the same key always has the
 * same id whoever computes it (docs/releases.md, "The trust chain").
 *
 * @example
 * await keyId({ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' });
 */
export async function keyId(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x } as JWK, 'sha256');
}

/**
 * A new random Ed25519 release key.
 *
 * @example
 * const key = await generateSigningKey();
 */
export async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey } = generateKeyPairSync('ed25519');
  return signingKeyFromPrivate(privateKey);
}

async function signingKeyFromPrivate(privateKey: KeyObject): Promise<SigningKey> {
  const pub = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const kid = await keyId(pub);
  return { kid, privateKey, publicJwk: publicJwkOf(pub.x!, kid) };
}

function publicJwkOf(x: string, kid: string): JWK {
  return { kty: 'OKP', crv: 'Ed25519', x, alg: 'EdDSA', use: 'sig', kid };
}

/**
 * The private JWK to write to release.jwk (0600). Nothing else should ever serialise `d`.
 *
 * @example
 * await writeFileAtomic(join(dir, KEY_FILES.privateJwk), JSON.stringify(privateJwk(key)), 0o600);
 */
export function privateJwk(key: SigningKey): JWK {
  const jwk = key.privateKey.export({ format: 'jwk' }) as JWK;
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x!, d: jwk.d!, alg: 'EdDSA', kid: key.kid };
}

/**
 * The key in ostree's ed25519 file formats (docs/releases.md, "The trust chain"): the secret file
 * holds base64 of the 64-byte libsodium secret key (32-byte seed, then the public key), the public
 * file base64 of the 32-byte public key; one key per line.
 *
 * @example
 * const { secret, public: pub } = ostreeKeyText(key); // 'base64…\n'
 */
export function ostreeKeyText(key: SigningKey): { secret: string; public: string; secretBytes: Uint8Array; publicBytes: Uint8Array } {
  const jwk = privateJwk(key);
  const seed = Buffer.from(jwk.d!, 'base64url');
  const pub = Buffer.from(jwk.x!, 'base64url');
  const secretBytes = Buffer.concat([seed, pub]);
  return { secret: `${secretBytes.toString('base64')}\n`, public: `${pub.toString('base64')}\n`, secretBytes, publicBytes: pub };
}

/**
 * Reads the release key from a release.jwk file or the directory holding one.
 *
 * @throws OtaError `ERR_OTA_KEY` when the file is missing, unreadable, not a private Ed25519 JWK,
 *   or its public half or kid does not match its private half.
 * @example
 * const key = await loadSigningKey('keys/');
 */
export async function loadSigningKey(path: string): Promise<SigningKey> {
  const file = (await isDirectory(path)) ? join(path, KEY_FILES.privateJwk) : path;
  const jwk = await readJson(file, 'release key');
  if (!isEd25519(jwk) || typeof jwk.d !== 'string') {
    throw new OtaError('ERR_OTA_KEY', `${file} is not a private Ed25519 JWK (kty OKP, crv Ed25519, with d)`, { hint: HINT_GENERATE });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x }, format: 'jwk' });
  } catch (e) {
    throw new OtaError('ERR_OTA_KEY', `${file}: the private key does not decode (${(e as Error).message})`, { hint: HINT_GENERATE, cause: e });
  }
  const key = await signingKeyFromPrivate(privateKey);
  // createPrivateKey derives the public key from d alone; a JWK whose x or kid disagrees was edited or corrupted.
  if (key.publicJwk.x !== jwk.x || (jwk.kid !== undefined && jwk.kid !== key.kid)) {
    throw new OtaError('ERR_OTA_KEY', `${file}: its public key or kid does not match its private key`, { hint: 'the file was edited or damaged; restore it from a backup' });
  }
  return key;
}

/**
 * Reads the keys a reader trusts: a release.pub.jwks file (or a single public JWK), the directory
 * holding release.pub.jwks, or a JWK set already in memory. Every key must be a public Ed25519
 * JWK; a `kid`, where given, must be its thumbprint.
 *
 * @throws OtaError `ERR_OTA_KEY` naming the file and the key at fault.
 * @example
 * const trusted = await loadTrustedKeys('/etc/ota/keys.jwks');
 */
export async function loadTrustedKeys(pathOrJwks: string | { keys: JWK[] }): Promise<TrustedKeys> {
  if (typeof pathOrJwks !== 'string') return trustedFromJwks(pathOrJwks, 'the trusted key set');
  const file = (await isDirectory(pathOrJwks)) ? join(pathOrJwks, KEY_FILES.publicJwks) : pathOrJwks;
  const json = await readJson(file, 'trusted keys');
  const set = isRecord(json) && Array.isArray(json.keys) ? { keys: json.keys as JWK[] } : { keys: [json as JWK] };
  return trustedFromJwks(set, file);
}

async function trustedFromJwks(set: { keys: JWK[] }, where: string): Promise<TrustedKeys> {
  if (!Array.isArray(set.keys) || set.keys.length === 0) {
    throw new OtaError('ERR_OTA_KEY', `${where} holds no keys`, { hint: 'trust the release.pub.jwks that `ota keys generate` wrote' });
  }
  const byKid = new Map<string, TrustedKey>();
  for (const [i, jwk] of set.keys.entries()) {
    const key = await trustedKey(jwk, `${where}, key ${i + 1}`);
    byKid.set(key.kid, key);
  }
  return { byKid };
}

async function trustedKey(jwk: unknown, where: string): Promise<TrustedKey> {
  if (!isEd25519(jwk)) throw new OtaError('ERR_OTA_KEY', `${where} is not an Ed25519 JWK (kty OKP, crv Ed25519, x)`, { hint: 'release keys are Ed25519 only' });
  if (jwk.d !== undefined) {
    throw new OtaError('ERR_OTA_KEY', `${where} is a private key`, { hint: 'trust the public release.pub.jwks, never release.jwk' });
  }
  if (jwk.alg !== undefined && jwk.alg !== 'EdDSA') throw new OtaError('ERR_OTA_KEY', `${where} is for alg ${JSON.stringify(jwk.alg)}, not EdDSA`);
  const kid = await keyId(jwk);
  if (jwk.kid !== undefined && jwk.kid !== kid) {
    throw new OtaError('ERR_OTA_KEY', `${where}: kid ${JSON.stringify(jwk.kid)} is not the key's thumbprint ${kid}`, { hint: 'a kid is the RFC 7638 thumbprint of the key; take the key set from `ota keys show`' });
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
  } catch (e) {
    throw new OtaError('ERR_OTA_KEY', `${where}: the public key does not decode (${(e as Error).message})`, { cause: e });
  }
  return { kid, publicKey, publicJwk: publicJwkOf(jwk.x, kid) };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isEd25519(v: unknown): v is JWK & { x: string } {
  return isRecord(v) && v.kty === 'OKP' && v.crv === 'Ed25519' && typeof v.x === 'string' && /^[A-Za-z0-9_-]{43}$/.test(v.x);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new OtaError('ERR_OTA_KEY', `cannot read ${what} ${file}: ${fsReason(e)}`, { hint: HINT_GENERATE, cause: e });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new OtaError('ERR_OTA_KEY', `${what} ${file} is not JSON: ${(e as Error).message}`, { hint: HINT_GENERATE, cause: e });
  }
}
