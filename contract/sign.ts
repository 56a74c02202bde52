import { randomBytes } from 'node:crypto';
import { CompactSign } from 'jose';
import { OtaError } from '../common/errors.js';
import type { SigningKey } from './keys.js';
import { DEFAULT_EXPIRES_IN_SECONDS, JWS_TYP, SIGNED_SCHEMAS, type SignedDocuments, type SignedKind } from './kinds.js';
import { schemaProblem } from './parse.js';

export interface SignOptions {
  /** The issue time (default: now); `nbf` equals it. */
  now?: Date;
  /** Lifetime; defaults per kind in DEFAULT_EXPIRES_IN_SECONDS. */
  expiresInSeconds?: number;
  /** The `jti` claim. Commands always carry one: a random one when none is given. */
  nonce?: string;
}

/**
 * Signs a release manifest or a command as a compact JWS (docs/contract.md, "Signed documents"):
 * header `{alg: EdDSA, typ, kid}`, payload the document's fields plus `iat`, `nbf`, `exp` and, for
 * commands, `jti`. The document is checked against its schema first and serialised in the schema's
 * field order, so the same inputs give the same bytes (Ed25519 is deterministic).
 *
 * @throws OtaError `ERR_OTA_DOCUMENT` when the document breaks its schema.
 * @example
 * const jws = await signDocument('release', manifest, await loadSigningKey('keys/'));
 */
export async function signDocument<K extends SignedKind>(kind: K, doc: SignedDocuments[K] | object, key: SigningKey, opts: SignOptions = {}): Promise<string> {
  const parsed = SIGNED_SCHEMAS[kind].safeParse(doc);
  if (!parsed.success) {
    throw new OtaError('ERR_OTA_DOCUMENT', `cannot sign the ${kind}: ${schemaProblem(parsed.error)}`, { hint: 'this document does not follow docs/contract.md' });
  }
  const lifetime = opts.expiresInSeconds ?? DEFAULT_EXPIRES_IN_SECONDS[kind];
  if (!Number.isInteger(lifetime) || lifetime <= 0) throw new Error(`signDocument: expiresInSeconds ${lifetime} is not a positive integer, this is a bug`);
  const iat = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const nonce = opts.nonce ?? (kind === 'command' ? randomBytes(16).toString('base64url') : undefined);
  const payload = { ...(parsed.data as object), iat, nbf: iat, exp: iat + lifetime, ...(nonce === undefined ? {} : { jti: nonce }) };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'EdDSA', typ: JWS_TYP[kind], kid: key.kid })
    .sign(key.privateKey);
}
