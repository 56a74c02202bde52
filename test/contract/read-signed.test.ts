import { sign as nodeSign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as noble from '@noble/ed25519';
import { compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { OtaError } from '../../common/errors.js';
import {
  generateSigningKey,
  loadSigningKey,
  loadTrustedKeys,
  readSigned,
  readUnverified,
  signDocument,
  type Command,
  type ReleaseManifest,
  type SigningKey,
  type TrustedKeys,
} from '../../contract/index.js';

const GOLDEN = join(import.meta.dirname, 'golden');
const NOW = new Date('2026-03-01T12:00:00Z');
const NOW_S = NOW.getTime() / 1000;
let key: SigningKey;
let trusted: TrustedKeys;
let release: ReleaseManifest;
let command: Command;

beforeAll(async () => {
  key = await generateSigningKey();
  trusted = await loadTrustedKeys({ keys: [key.publicJwk] });
  release = JSON.parse(await readFile(join(GOLDEN, 'release.json'), 'utf8')) as ReleaseManifest;
  command = JSON.parse(await readFile(join(GOLDEN, 'command.json'), 'utf8')) as Command;
});

/** A JWS with any header and payload, validly signed by `k`: reaches the checks after the signature. */
function forge(header: object, payload: object, k: SigningKey = key): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${nodeSign(null, Buffer.from(input), k.privateKey).toString('base64url')}`;
}
const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
const releaseHeader = () => ({ alg: 'EdDSA', typ: 'deb-ota-release+jws', kid: key.kid });
const claims = { iat: NOW_S, nbf: NOW_S, exp: NOW_S + 3600 };

async function refusal(p: Promise<unknown>): Promise<OtaError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(OtaError);
  return e as OtaError;
}

describe('signDocument and readSigned', () => {
  it('round-trips a release and a command with their claims', async () => {
    const jws = await signDocument('release', release, key, { now: NOW, expiresInSeconds: 600 });
    const r = await readSigned('release', jws, trusted, { now: NOW });
    expect(r.doc).toEqual(release);
    expect(r.kid).toBe(key.kid);
    expect(r.issuedAt).toEqual(NOW);
    expect(r.expiresAt).toEqual(new Date(NOW.getTime() + 600_000));
    expect(r.nonce).toBeUndefined();
    const c = await readSigned('command', await signDocument('command', command, key, { now: NOW, nonce: 'n-1' }), trusted, { now: NOW });
    expect(c.doc).toEqual(command);
    expect(c.nonce).toBe('n-1');
  });

  it('gives every command a fresh random nonce when none is given', async () => {
    const a = await readSigned('command', await signDocument('command', command, key, { now: NOW }), trusted, { now: NOW });
    const b = await readSigned('command', await signDocument('command', command, key, { now: NOW }), trusted, { now: NOW });
    expect(a.nonce).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(a.nonce).not.toBe(b.nonce);
  });

  it('makes a JWS that jose and an independent Ed25519 verifier (@noble/ed25519) accept', async () => {
    const jws = await signDocument('release', release, key, { now: NOW });
    expect(decodeProtectedHeader(jws)).toEqual({ alg: 'EdDSA', typ: 'deb-ota-release+jws', kid: key.kid });
    const { payload } = await compactVerify(jws, await importJWK(key.publicJwk, 'EdDSA'));
    expect(JSON.parse(new TextDecoder().decode(payload))).toMatchObject(release);
    const [h, p, s] = jws.split('.') as [string, string, string];
    const pub = Buffer.from(key.publicJwk.x!, 'base64url');
    expect(await noble.verifyAsync(Buffer.from(s, 'base64url'), Buffer.from(`${h}.${p}`), pub)).toBe(true);
  });

  it('fails with both verifiers after one byte of any part changes', async () => {
    const jws = await signDocument('release', release, key, { now: NOW });
    const parts = jws.split('.') as [string, string, string];
    const pub = Buffer.from(key.publicJwk.x!, 'base64url');
    for (const i of [0, 1, 2]) {
      // Flip one bit of one decoded byte in the middle of the part, then encode again.
      const bytes = Buffer.from(parts[i]!, 'base64url');
      bytes[bytes.length >> 1]! ^= 0x01;
      const changed = parts.map((p, j) => (j === i ? bytes.toString('base64url') : p));
      const input = `${changed[0]}.${changed[1]}`;
      expect(await noble.verifyAsync(Buffer.from(changed[2]!, 'base64url'), Buffer.from(input), pub)).toBe(false);
      const e = await refusal(readSigned('release', changed.join('.'), trusted, { now: NOW }));
      // A changed header byte may also break its JSON or its alg/typ/kid: refused either way, before any use.
      expect(e.code).toMatch(/^ERR_OTA_JWS_(SIGNATURE|MALFORMED|ALG|TYP|KID)$/);
      if (i > 0) expect(e.code).toBe('ERR_OTA_JWS_SIGNATURE');
    }
  });

  it('accepts the golden JWS signed by the fixed test key, and reproduces it byte for byte', async () => {
    const golden = (await readFile(join(GOLDEN, 'release.jws'), 'utf8')).trim();
    const goldenKey = await loadSigningKey(join(GOLDEN, 'test-key.jwk'));
    const goldenTrust = await loadTrustedKeys({ keys: [goldenKey.publicJwk] });
    expect((await readSigned('release', golden, goldenTrust, { now: NOW })).doc).toEqual(release);
    expect(await signDocument('release', release, goldenKey, { now: NOW })).toBe(golden);
    const goldenCommand = (await readFile(join(GOLDEN, 'command.jws'), 'utf8')).trim();
    expect(await signDocument('command', command, goldenKey, { now: NOW, nonce: 'golden-nonce-0001' })).toBe(goldenCommand);
  });

  it('refuses to sign a document that breaks its schema', async () => {
    const e = await refusal(signDocument('release', { ...release, commit: 'abc' }, key));
    expect(e.code).toBe('ERR_OTA_DOCUMENT');
    expect(e.message).toContain('commit');
  });
});

describe('readSigned refuses, naming the check', () => {
  const cases: [string, () => string, string, RegExp][] = [
    ['a string that is not a JWS', () => 'not-a-jws', 'ERR_OTA_JWS_MALFORMED', /malformed/],
    ['a header that is not JSON', () => `${Buffer.from('{').toString('base64url')}.${b64(release)}.AAAA`, 'ERR_OTA_JWS_MALFORMED', /header/],
    ['alg none', () => `${b64({ alg: 'none', typ: 'deb-ota-release+jws', kid: key.kid })}.${b64({ ...release, ...claims })}.`, 'ERR_OTA_JWS_MALFORMED', /malformed/],
    ['alg none with a signature part', () => `${b64({ alg: 'none', typ: 'deb-ota-release+jws', kid: key.kid })}.${b64({ ...release, ...claims })}.AAAA`, 'ERR_OTA_JWS_ALG', /alg "none"/],
    ['alg HS256', () => forge({ ...releaseHeader(), alg: 'HS256' }, { ...release, ...claims }), 'ERR_OTA_JWS_ALG', /not EdDSA/],
    ['a header with an embedded key', () => forge({ ...releaseHeader(), jwk: key.publicJwk }, { ...release, ...claims }), 'ERR_OTA_JWS_MALFORMED', /jwk/],
    ['a command as a release', () => forge({ ...releaseHeader(), typ: 'deb-ota-command+jws' }, { ...release, ...claims }), 'ERR_OTA_JWS_TYP', /typ/],
    ['a missing typ', () => forge({ alg: 'EdDSA', kid: key.kid }, { ...release, ...claims }), 'ERR_OTA_JWS_TYP', /typ/],
    ['an unknown kid', () => forge({ ...releaseHeader(), kid: 'nobody' }, { ...release, ...claims }), 'ERR_OTA_JWS_KID', /nobody/],
    ['a missing exp', () => forge(releaseHeader(), { ...release, iat: NOW_S }), 'ERR_OTA_JWS_NO_EXPIRY', /missing exp/],
    ['a missing iat', () => forge(releaseHeader(), { ...release, exp: NOW_S + 60 }), 'ERR_OTA_JWS_CLAIMS', /iat/],
    ['an expired document', () => forge(releaseHeader(), { ...release, iat: NOW_S - 7200, exp: NOW_S - 3600 }), 'ERR_OTA_JWS_EXPIRED', /expired at 2026-03-01T11:00:00/],
    ['nbf in the future', () => forge(releaseHeader(), { ...release, ...claims, nbf: NOW_S + 3000 }), 'ERR_OTA_JWS_NOT_YET_VALID', /not valid before/],
    ['iat in the future', () => forge(releaseHeader(), { ...release, iat: NOW_S + 3000, exp: NOW_S + 9000 }), 'ERR_OTA_JWS_NOT_YET_VALID', /not valid before/],
    ['a schema violation', () => forge(releaseHeader(), { ...release, ...claims, packages: [{ name: 'x', version: '1.0-', arch: 'arm64' }] }), 'ERR_OTA_DOCUMENT', /packages\[0\]\.version/],
    ['an unknown field', () => forge(releaseHeader(), { ...release, ...claims, sneaky: true }), 'ERR_OTA_DOCUMENT', /sneaky/],
    ['an oversized input', () => `${'a'.repeat(5 * 1024 * 1024)}.b.c`, 'ERR_OTA_JWS_TOO_LARGE', /limit/],
  ];
  it.each(cases)('%s', async (_name, make, code, message) => {
    const e = await refusal(readSigned('release', make(), trusted, { now: NOW }));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  });

  it('with checkExpiry: false, reads an expired document it accepted earlier, and still checks the rest', async () => {
    const expired = forge(releaseHeader(), { ...release, iat: NOW_S - 7200, exp: NOW_S - 3600 });
    expect((await readSigned('release', expired, trusted, { now: NOW, checkExpiry: false })).doc).toEqual(release);
    const stranger = forge(releaseHeader(), { ...release, iat: NOW_S - 7200, exp: NOW_S - 3600 }, await generateSigningKey());
    expect((await refusal(readSigned('release', stranger, trusted, { now: NOW, checkExpiry: false }))).code).toBe('ERR_OTA_JWS_SIGNATURE');
  });

  it('refuses a release as a command', async () => {
    const jws = await signDocument('release', release, key, { now: NOW });
    expect((await refusal(readSigned('command', jws, trusted, { now: NOW }))).code).toBe('ERR_OTA_JWS_TYP');
  });

  it('refuses a command without a nonce', async () => {
    const jws = forge({ alg: 'EdDSA', typ: 'deb-ota-command+jws', kid: key.kid }, { ...command, ...claims });
    const e = await refusal(readSigned('command', jws, trusted, { now: NOW }));
    expect(e.code).toBe('ERR_OTA_JWS_CLAIMS');
    expect(e.message).toMatch(/nonce/);
  });

  it('refuses a valid signature by an untrusted key that claims a trusted kid', async () => {
    const other = await generateSigningKey();
    const jws = forge(releaseHeader(), { ...release, ...claims }, other);
    expect((await refusal(readSigned('release', jws, trusted, { now: NOW }))).code).toBe('ERR_OTA_JWS_SIGNATURE');
  });

  it('allows the clock skew, and no more', async () => {
    const jws = forge(releaseHeader(), { ...release, iat: NOW_S + 100, nbf: NOW_S + 100, exp: NOW_S + 3600 });
    await expect(readSigned('release', jws, trusted, { now: NOW, clockSkewSeconds: 120 })).resolves.toBeDefined();
    expect((await refusal(readSigned('release', jws, trusted, { now: NOW, clockSkewSeconds: 60 }))).code).toBe('ERR_OTA_JWS_NOT_YET_VALID');
  });

  it('verifies with whichever of several trusted keys the kid names (rotation)', async () => {
    const next = await generateSigningKey();
    const both = await loadTrustedKeys({ keys: [key.publicJwk, next.publicJwk] });
    for (const k of [key, next]) {
      expect((await readSigned('release', await signDocument('release', release, k, { now: NOW }), both, { now: NOW })).kid).toBe(k.kid);
    }
    const onlyOld = await loadTrustedKeys({ keys: [key.publicJwk] });
    const e = await refusal(readSigned('release', await signDocument('release', release, next, { now: NOW }), onlyOld, { now: NOW }));
    expect(e.code).toBe('ERR_OTA_JWS_KID');
  });
});

describe('readUnverified', () => {
  it('makes every check that needs no key, and says whose kid it names', async () => {
    const other = await generateSigningKey();
    const jws = await signDocument('release', release, other, { now: NOW });
    const r = readUnverified('release', jws, { now: NOW });
    expect(r.doc).toEqual(release);
    expect(r.kid).toBe(other.kid);
    const codes = [
      forge(releaseHeader(), { ...release, iat: NOW_S - 7200, exp: NOW_S - 3600 }),
      forge({ ...releaseHeader(), typ: 'deb-ota-command+jws' }, { ...release, ...claims }),
      forge({ ...releaseHeader(), alg: 'none' }, { ...release, ...claims }),
      forge(releaseHeader(), { ...release, ...claims, commit: 'x' }),
      forge({ alg: 'EdDSA', typ: 'deb-ota-release+jws' }, { ...release, ...claims }),
    ].map((j) => {
      try {
        readUnverified('release', j, { now: NOW });
        return 'accepted';
      } catch (e) {
        return (e as OtaError).code;
      }
    });
    expect(codes).toEqual(['ERR_OTA_JWS_EXPIRED', 'ERR_OTA_JWS_TYP', 'ERR_OTA_JWS_ALG', 'ERR_OTA_DOCUMENT', 'ERR_OTA_JWS_KID']);
  });
});
