import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as noble from '@noble/ed25519';
import { calculateJwkThumbprint } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtaError } from '../../common/errors.js';
import { generateSigningKey, keyId, loadSigningKey, loadTrustedKeys, ostreeKeyText, privateJwk, type SigningKey } from '../../contract/index.js';

let dir: string;
let key: SigningKey;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-keys-'));
  key = await generateSigningKey();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function code(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(OtaError);
  return (e as OtaError).code;
}

describe('release keys', () => {
  it('names a key by its RFC 7638 thumbprint, as jose computes it', async () => {
    const { kty, crv, x } = key.publicJwk;
    expect(key.kid).toBe(await calculateJwkThumbprint({ kty, crv, x }, 'sha256'));
    expect(await keyId(key.publicJwk)).toBe(key.kid);
    expect(key.publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x, alg: 'EdDSA', use: 'sig', kid: key.kid });
    expect(key.publicJwk).not.toHaveProperty('d');
  });

  it('loads release.jwk from its file or its directory, the same key', async () => {
    await writeFile(join(dir, 'release.jwk'), JSON.stringify(privateJwk(key)), { mode: 0o600 });
    expect((await loadSigningKey(join(dir, 'release.jwk'))).kid).toBe(key.kid);
    expect((await loadSigningKey(dir)).publicJwk).toEqual(key.publicJwk);
  });

  it('writes the ostree key files as the seed and public key that an independent Ed25519 derives', async () => {
    const { secretBytes, publicBytes, secret, public: pub } = ostreeKeyText(key);
    expect(secretBytes).toHaveLength(64);
    expect(Buffer.from(secret.trim(), 'base64')).toEqual(Buffer.from(secretBytes));
    expect(Buffer.from(pub.trim(), 'base64')).toEqual(Buffer.from(publicBytes));
    expect(Buffer.from(await noble.getPublicKeyAsync(secretBytes.subarray(0, 32)))).toEqual(Buffer.from(publicBytes));
    expect(Buffer.from(secretBytes.subarray(32))).toEqual(Buffer.from(publicBytes));
    expect(Buffer.from(publicBytes).toString('base64url')).toBe(key.publicJwk.x);
  });

  it('refuses a missing file, a public key as signing key and a damaged private key', async () => {
    expect(await code(loadSigningKey(join(dir, 'nope.jwk')))).toBe('ERR_OTA_KEY');
    await writeFile(join(dir, 'pub.jwk'), JSON.stringify(key.publicJwk));
    expect(await code(loadSigningKey(join(dir, 'pub.jwk')))).toBe('ERR_OTA_KEY');
    const other = await generateSigningKey();
    await writeFile(join(dir, 'mixed.jwk'), JSON.stringify({ ...privateJwk(key), x: other.publicJwk.x }));
    expect(await code(loadSigningKey(join(dir, 'mixed.jwk')))).toBe('ERR_OTA_KEY');
    await writeFile(join(dir, 'badkid.jwk'), JSON.stringify({ ...privateJwk(key), kid: other.kid }));
    expect(await code(loadSigningKey(join(dir, 'badkid.jwk')))).toBe('ERR_OTA_KEY');
    await writeFile(join(dir, 'notjson.jwk'), '{');
    expect(await code(loadSigningKey(join(dir, 'notjson.jwk')))).toBe('ERR_OTA_KEY');
  });

  it('trusts a JWK set from a file, a directory, a single JWK or memory, by kid', async () => {
    const other = await generateSigningKey();
    const sub = join(dir, 'trust');
    await rm(sub, { recursive: true, force: true });
    await writeFile(join(dir, 'set.jwks'), JSON.stringify({ keys: [key.publicJwk, other.publicJwk] }));
    const fromFile = await loadTrustedKeys(join(dir, 'set.jwks'));
    expect([...fromFile.byKid.keys()].sort()).toEqual([key.kid, other.kid].sort());
    await writeFile(join(dir, 'release.pub.jwks'), JSON.stringify({ keys: [key.publicJwk] }));
    expect([...(await loadTrustedKeys(dir)).byKid.keys()]).toEqual([key.kid]);
    await writeFile(join(dir, 'one.jwk'), JSON.stringify(other.publicJwk));
    expect([...(await loadTrustedKeys(join(dir, 'one.jwk'))).byKid.keys()]).toEqual([other.kid]);
    const { kty, crv, x } = key.publicJwk;
    expect([...(await loadTrustedKeys({ keys: [{ kty, crv, x }] })).byKid.keys()]).toEqual([key.kid]);
  });

  it('refuses to trust a private key, an empty set, a wrong kid or another curve', async () => {
    expect(await code(loadTrustedKeys({ keys: [privateJwk(key)] }))).toBe('ERR_OTA_KEY');
    expect(await code(loadTrustedKeys({ keys: [] }))).toBe('ERR_OTA_KEY');
    expect(await code(loadTrustedKeys({ keys: [{ ...key.publicJwk, kid: 'mine' }] }))).toBe('ERR_OTA_KEY');
    expect(await code(loadTrustedKeys({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' }] }))).toBe('ERR_OTA_KEY');
    expect(await code(loadTrustedKeys(join(dir, 'missing.jwks')))).toBe('ERR_OTA_KEY');
  });
});
