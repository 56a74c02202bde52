import { compactVerify } from 'jose';
import { OtaError, type OtaErrorCode } from '../common/errors.js';
import type { TrustedKeys } from './keys.js';
import { JWS_TYP, MAX_JWS_CHARS, SIGNED_SCHEMAS, type SignedDocuments, type SignedKind } from './kinds.js';
import { schemaProblem } from './parse.js';

export interface ReadSignedOptions {
  /** The reader's clock (default: now). */
  now?: Date;
  /** How far the signer's and reader's clocks may disagree (default DEFAULT_CLOCK_SKEW_SECONDS). */
  clockSkewSeconds?: number;
  /**
   * False for a document this reader accepted earlier and kept (docs/contract.md, "What readSigned checks"):
   * everything is checked again but `exp`, which was checked when it was accepted. Default true.
   */
  checkExpiry?: boolean;
}

/** What a verified document says, and who signed it when. */
export interface Verified<D> {
  doc: D;
  kid: string;
  issuedAt: Date;
  expiresAt: Date;
  nonce?: string;
}

export const DEFAULT_CLOCK_SKEW_SECONDS = 300;

const B64URL = /^[A-Za-z0-9_-]*$/;
const HEADER_KEYS = new Set(['alg', 'typ', 'kid']);
const CLAIMS = ['iat', 'nbf', 'exp', 'jti'] as const;

function refuse(code: OtaErrorCode, kind: SignedKind, check: string, hint?: string): OtaError {
  return new OtaError(code, `signed ${kind} refused: ${check}`, hint === undefined ? {} : { hint });
}

/**
 * The one function that reads a signed document (docs/contract.md, "What readSigned checks"). In
 * order: size, JWS shape, header (alg EdDSA only, the kind's typ, a trusted kid), signature, claims
 * (exp present and not past, nbf and iat not in the future, beyond the skew; a nonce on commands),
 * and last the document's schema. Each failed check is its own OtaError code and names the check.
 *
 * @example
 * const { doc, kid } = await readSigned('release', jws, await loadTrustedKeys('/etc/ota/keys.jwks'));
 */
export async function readSigned<K extends SignedKind>(kind: K, jws: string, trusted: TrustedKeys, opts: ReadSignedOptions = {}): Promise<Verified<SignedDocuments[K]>> {
  const header = checkShape(kind, jws);
  const key = typeof header.kid === 'string' ? trusted.byKid.get(header.kid) : undefined;
  if (key === undefined) {
    const known = [...trusted.byKid.keys()].join(', ');
    throw refuse('ERR_OTA_JWS_KID', kind, `kid ${JSON.stringify(header.kid)} is not a trusted key (trusted: ${known})`, 'add the signer\'s public key to the trusted keys, or sign with a trusted key');
  }
  try {
    await compactVerify(jws, key.publicKey, { algorithms: ['EdDSA'] });
  } catch (e) {
    throw new OtaError('ERR_OTA_JWS_SIGNATURE', `signed ${kind} refused: the signature does not verify with key ${key.kid}`, {
      hint: 'the document was changed after signing, or signed by another key with the same kid',
      cause: e,
    });
  }
  return { ...checkPayload(kind, jws, opts), kid: key.kid };
}

/**
 * Every check of readSigned except the two that need keys (a trusted kid, the signature), for a
 * tool that relays a signed document it has no key for (`ota announce` without `--key`) and
 * wants to refuse what every device would refuse anyway. Never base a trust decision on it: the
 * document it returns is not authenticated.
 *
 * @example
 * const { doc, expiresAt } = readUnverified('release', jws);
 */
export function readUnverified<K extends SignedKind>(kind: K, jws: string, opts: ReadSignedOptions = {}): Verified<SignedDocuments[K]> {
  const header = checkShape(kind, jws);
  if (typeof header.kid !== 'string' || header.kid === '') throw refuse('ERR_OTA_JWS_KID', kind, 'no kid in the header');
  return { ...checkPayload(kind, jws, opts), kid: header.kid };
}

/** Size, shape and the protected header's alg, parameters and typ; returns the header. */
function checkShape(kind: SignedKind, jws: string): Record<string, unknown> {
  if (typeof jws !== 'string') throw refuse('ERR_OTA_JWS_MALFORMED', kind, 'malformed: not a string');
  const limit = MAX_JWS_CHARS[kind];
  if (jws.length > limit) throw refuse('ERR_OTA_JWS_TOO_LARGE', kind, `too large: ${jws.length} characters, the limit is ${limit}`);
  const parts = jws.split('.');
  if (parts.length !== 3 || parts.some((p) => p === '' || !B64URL.test(p))) {
    throw refuse('ERR_OTA_JWS_MALFORMED', kind, 'malformed: not a compact JWS (three base64url parts separated by dots)');
  }
  const header = decodePart(kind, parts[0]!, 'header');
  if (header.alg !== 'EdDSA') {
    throw refuse('ERR_OTA_JWS_ALG', kind, `alg ${JSON.stringify(header.alg)} is not EdDSA`, 'only EdDSA (Ed25519) signatures are accepted');
  }
  const extra = Object.keys(header).filter((k) => !HEADER_KEYS.has(k));
  if (extra.length > 0) throw refuse('ERR_OTA_JWS_MALFORMED', kind, `malformed: unexpected header parameter ${extra.join(', ')}`);
  if (header.typ !== JWS_TYP[kind]) {
    throw refuse('ERR_OTA_JWS_TYP', kind, `typ ${JSON.stringify(header.typ)} is not ${JWS_TYP[kind]}`, 'a release is never accepted as a command, nor the reverse');
  }
  return header;
}

/** Claims, then the document's schema. */
function checkPayload<K extends SignedKind>(kind: K, jws: string, opts: ReadSignedOptions): Omit<Verified<SignedDocuments[K]>, 'kid'> {
  const payload = decodePart(kind, jws.split('.')[1]!, 'payload');
  const claims = checkClaims(kind, payload, opts);
  const fields = Object.fromEntries(Object.entries(payload).filter(([k]) => !(CLAIMS as readonly string[]).includes(k)));
  const parsed = SIGNED_SCHEMAS[kind].safeParse(fields);
  if (!parsed.success) throw refuse('ERR_OTA_DOCUMENT', kind, `schema: ${schemaProblem(parsed.error)}`, 'the signer made a document that does not follow docs/contract.md');
  return { doc: parsed.data as SignedDocuments[K], ...claims };
}

function decodePart(kind: SignedKind, part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(part, 'base64url')));
  } catch {
    throw refuse('ERR_OTA_JWS_MALFORMED', kind, `malformed: the ${what} is not base64url of UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refuse('ERR_OTA_JWS_MALFORMED', kind, `malformed: the ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function checkClaims(kind: SignedKind, payload: Record<string, unknown>, opts: ReadSignedOptions): Omit<Verified<unknown>, 'doc' | 'kid'> {
  const now = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const skew = opts.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
  const { iat, nbf, exp, jti } = payload;
  if (exp === undefined) throw refuse('ERR_OTA_JWS_NO_EXPIRY', kind, 'missing exp: every signed document must expire', 'sign it again with signDocument');
  if (!isTime(exp)) throw refuse('ERR_OTA_JWS_CLAIMS', kind, 'claims: exp is not a time in seconds');
  if (!isTime(iat)) throw refuse('ERR_OTA_JWS_CLAIMS', kind, 'claims: iat is missing or not a time in seconds');
  if (nbf !== undefined && !isTime(nbf)) throw refuse('ERR_OTA_JWS_CLAIMS', kind, 'claims: nbf is not a time in seconds');
  if (jti !== undefined && (typeof jti !== 'string' || jti.length === 0 || jti.length > 128)) throw refuse('ERR_OTA_JWS_CLAIMS', kind, 'claims: jti is not a string of 1 to 128 characters');
  if (kind === 'command' && jti === undefined) throw refuse('ERR_OTA_JWS_CLAIMS', kind, 'claims: a command must carry a nonce (jti)');
  const at = (s: number) => new Date(s * 1000).toISOString();
  if (opts.checkExpiry !== false && now - skew >= exp) throw refuse('ERR_OTA_JWS_EXPIRED', kind, `expired at ${at(exp)} (now ${at(now)})`, kind === 'release' ? 'publish a new version (a published version is never signed again); check the clock if it should not have expired' : 'sign and send the command again; check the clock if it should not have expired');
  const start = Math.max(iat, nbf ?? 0);
  if (start > now + skew) throw refuse('ERR_OTA_JWS_NOT_YET_VALID', kind, `not valid before ${at(start)} (now ${at(now)}, allowed skew ${skew} s)`, 'check the clocks of the signer and this machine');
  return { issuedAt: new Date(iat * 1000), expiresAt: new Date(exp * 1000), ...(typeof jti === 'string' ? { nonce: jti } : {}) };
}
