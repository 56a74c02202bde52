import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import { C, type Ptr } from './ffi/libs.js';
import { callAsync, check, errorOut, unref } from './ffi/call.js';
import { decodeVariant, encodeVariant, GVariantValue } from './gvariant.js';
import { OstreeError } from './errors.js';
import type { Repo } from './repo.js';

/**
 * Commit signatures.
 *
 * ed25519 in OSTree's own format, made and checked here because Debian's libostree is built
 * without it: the commit's detached metadata holds `ostree.sign.ed25519`, an `aay` of 64-byte
 * signatures over the serialized commit object. Stock `ostree sign --verify` (with libsodium)
 * reads the same thing; keys are raw 32-byte public keys (base64 in ostree's config).
 *
 * GPG goes through libostree (`ostree_repo_sign_commit` / `ostree_repo_verify_commit_ext`).
 *
 * @example
 * const { privateKey, publicKey } = generateKeyPairSync('ed25519');
 * await signCommitEd25519(repo, checksum, privateKey);
 * verifyCommitEd25519(repo, checksum, [rawPublicKey(publicKey)]).valid; // true
 */
export const ED25519_KEY = 'ostree.sign.ed25519';

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A private key from a KeyObject, a 32-byte seed, or libsodium's 64-byte secret key (seed + public). */
export function ed25519PrivateKey(key: KeyObject | Buffer): KeyObject {
  if (!Buffer.isBuffer(key)) return key;
  if (key.length !== 32 && key.length !== 64) throw new OstreeError('reading an ed25519 secret key', undefined, 'ota', 0, `expected 32 or 64 bytes, got ${key.length}`);
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, key.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
}

/** A public key from a KeyObject or its raw 32 bytes. */
export function ed25519PublicKey(key: KeyObject | Buffer): KeyObject {
  if (!Buffer.isBuffer(key)) return key;
  if (key.length !== 32) throw new OstreeError('reading an ed25519 public key', undefined, 'ota', 0, `expected 32 bytes, got ${key.length}`);
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, key]), format: 'der', type: 'spki' });
}

/** The raw 32 bytes of a public key, as OSTree stores them. */
export function rawPublicKey(key: KeyObject): Buffer {
  return (key.export({ format: 'der', type: 'spki' }) as Buffer).subarray(ED25519_SPKI_PREFIX.length);
}

function readMetadata(repo: Repo, checksum: string): [string, GVariantValue][] {
  const bytes = repo.readDetachedMetadata(checksum);
  return bytes ? (decodeVariant('a{sv}', bytes) as [string, GVariantValue][]) : [];
}

function signaturesIn(entries: [string, GVariantValue][]): Buffer[] {
  const e = entries.find(([k]) => k === ED25519_KEY);
  if (!e) return [];
  if (e[1].type !== 'aay') throw new OstreeError('reading ed25519 signatures', undefined, 'ota', 0, `${ED25519_KEY} has type ${e[1].type}, expected aay`);
  return e[1].value as Buffer[];
}

/** Adds an ed25519 signature of the commit (other signatures and metadata are kept). Idempotent. */
export async function signCommitEd25519(repo: Repo, rev: string, secretKey: KeyObject | Buffer): Promise<Buffer> {
  const checksum = repo.resolve(rev);
  const data = repo.loadVariant('commit', checksum);
  const signature = sign(null, data, ed25519PrivateKey(secretKey));
  const entries = readMetadata(repo, checksum);
  const existing = signaturesIn(entries);
  if (existing.some((s) => s.equals(signature))) return signature;
  const next = entries.filter(([k]) => k !== ED25519_KEY);
  next.push([ED25519_KEY, new GVariantValue('aay', [...existing, signature])]);
  next.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  repo.writeDetachedMetadata(checksum, encodeVariant('a{sv}', next));
  return signature;
}

export interface Ed25519Verification {
  valid: boolean;
  /** Index into `publicKeys` of the key that verified, if any. */
  keyIndex: number | undefined;
  signatures: number;
}

/** Checks the commit's ed25519 signatures against trusted public keys; valid when any one verifies. */
export function verifyCommitEd25519(repo: Repo, rev: string, publicKeys: (KeyObject | Buffer)[]): Ed25519Verification {
  const checksum = repo.resolve(rev);
  const data = repo.loadVariant('commit', checksum);
  const sigs = signaturesIn(readMetadata(repo, checksum));
  const keys = publicKeys.map(ed25519PublicKey);
  for (const sig of sigs) {
    if (sig.length !== 64) continue;
    const i = keys.findIndex((k) => verify(null, data, k, sig));
    if (i !== -1) return { valid: true, keyIndex: i, signatures: sigs.length };
  }
  return { valid: false, keyIndex: undefined, signatures: sigs.length };
}

/** Signs a commit with a GPG key from `homedir` (a GNUPGHOME). */
export async function signCommitGpg(repo: Repo, rev: string, keyId: string, homedir?: string): Promise<void> {
  const checksum = repo.resolve(rev);
  const err = errorOut();
  check(await callAsync(C.ostree_repo_sign_commit, repo.ptr, checksum, keyId, homedir ? resolvePath(homedir) : null, null, err), err, `GPG-signing ${checksum}`, repo.path);
}

/**
 * Adds a GPG signature of the repository's summary file to `summary.sig` (libostree's
 * `ostree.gpgsigs`, what a remote with gpg-verify-summary checks), keeping the signatures
 * already there.
 */
export async function signSummaryGpg(repo: Repo, keyId: string, homedir?: string): Promise<void> {
  const err = errorOut();
  check(await callAsync(C.ostree_repo_add_gpg_signature_summary, repo.ptr, [keyId, null], homedir ? resolvePath(homedir) : null, null, err), err, 'GPG-signing the summary', repo.path);
}

/**
 * Verifies a commit's GPG signatures against the keyrings in `keyringDir` (and/or one extra
 * keyring file). libostree also trusts the keyrings of the repository's remotes
 * (`<remote>.trustedkeys.gpg`), so a key imported for any remote counts too.
 */
export async function verifyCommitGpg(repo: Repo, rev: string, options: { keyringDir?: string; keyring?: string }): Promise<{ valid: number; total: number }> {
  const checksum = repo.resolve(rev);
  const dir: Ptr = options.keyringDir ? C.g_file_new_for_path(resolvePath(options.keyringDir)) : null;
  const extra: Ptr = options.keyring ? C.g_file_new_for_path(resolvePath(options.keyring)) : null;
  try {
    const err = errorOut();
    const result = await callAsync<Ptr>(C.ostree_repo_verify_commit_ext, repo.ptr, checksum, dir, extra, null, err);
    check(result, err, `verifying the GPG signatures of ${checksum}`, repo.path);
    try {
      return { valid: C.ostree_gpg_verify_result_count_valid(result) as number, total: C.ostree_gpg_verify_result_count_all(result) as number };
    } finally {
      unref(result);
    }
  } finally {
    unref(dir, extra);
  }
}
