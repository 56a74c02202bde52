/**
 * The nonces of the commands this device accepted (docs/agent.md, "The worker protocol"), so a command is acted
 * on once: `<stateDir>/nonces.json`, `{ apiVersion, kind: "SeenNonces", seen: { jti: expUnix } }`, written
 * atomically before the command acts and kept across restarts. An entry stays until its command could no longer
 * pass readSigned's expiry check (its `exp` plus the clock skew), then it is pruned; the store is bounded, and a
 * full store refuses a new command rather than forget one that could still be replayed.
 *
 * @example
 * const store = new NonceStore(stateDir);
 * const verdict = await store.admit(jti, expiresAt, new Date());
 * if (!verdict.ok) refuse(verdict.reason);
 */
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { OtaError } from '../../common/errors.js';
import { API_VERSION, DEFAULT_CLOCK_SKEW_SECONDS } from '../../contract/index.js';
import { readStateFile } from './state-file.js';

export const NONCE_FILE = 'nonces.json';
/** At most this many nonces are kept: a command lives an hour by default, so this is far beyond any real rate. */
export const MAX_NONCES = 10_000;

const seenSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('SeenNonces'),
  seen: z.record(z.string().min(1).max(128), z.number().int()),
});

export type SeenNonces = Readonly<Record<string, number>>;

export type NonceVerdict = { ok: true; seen: SeenNonces } | { ok: false; reason: 'replayed' | 'nonce-store-full' };

/** The entries whose command could still pass readSigned at `nowUnix`: its exp plus the skew not yet past. */
export function pruneNonces(seen: SeenNonces, nowUnix: number, skewSeconds = DEFAULT_CLOCK_SKEW_SECONDS): SeenNonces {
  return Object.fromEntries(Object.entries(seen).filter(([, exp]) => exp + skewSeconds >= nowUnix));
}

/** Whether a command with nonce `jti` (expiring at `expUnix`) may act, and the store it leaves: pure. */
export function admitNonce(seen: SeenNonces, jti: string, expUnix: number, nowUnix: number): NonceVerdict {
  const kept = pruneNonces(seen, nowUnix);
  if (Object.hasOwn(kept, jti)) return { ok: false, reason: 'replayed' };
  if (Object.keys(kept).length >= MAX_NONCES) return { ok: false, reason: 'nonce-store-full' };
  return { ok: true, seen: { ...kept, [jti]: expUnix } };
}

export class NonceStore {
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, NONCE_FILE);
  }

  /** The nonces on disk; none when the file is missing. An unreadable file is an error: forgetting would allow replays. */
  async load(): Promise<SeenNonces> {
    const doc = await readStateFile(this.path, seenSchema, (why, cause) => this.broken(why, cause));
    return doc ? doc.seen : {};
  }

  /** Admits the nonce and, when admitted, writes the store (pruned) before returning: the command acts after this. */
  async admit(jti: string, expiresAt: Date, now: Date): Promise<NonceVerdict> {
    const verdict = admitNonce(await this.load(), jti, Math.floor(expiresAt.getTime() / 1000), Math.floor(now.getTime() / 1000));
    if (verdict.ok) await writeFileAtomic(this.path, `${JSON.stringify({ apiVersion: API_VERSION, kind: 'SeenNonces', seen: verdict.seen })}\n`, 0o600);
    return verdict;
  }

  private broken(why: string, cause: unknown): OtaError {
    return new OtaError('ERR_OTA_STATE', `the command nonce store ${this.path} is unusable: ${why}`, {
      hint: `commands are refused until it is fixed; removing it allows the commands of the last hour to be replayed`,
      cause,
    });
  }
}
