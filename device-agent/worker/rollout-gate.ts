/**
 * The group's rollout as the device holds it (docs/agent.md, "Rollouts"; docs/contract.md, "Rollout"): which
 * rollout documents it accepts, and whether a release may start now. Both decisions are pure functions of data,
 * unit-tested without a sysroot; `RolloutStore` keeps the accepted rollout per group in
 * `<stateDir>/rollouts.json` (written atomically), so a replayed older wave cannot widen a wave or lift a pause,
 * even after a restart.
 *
 * @example
 * const g = releaseGate({ rollout, deviceId: 'gw-1', release: { version: '1.2', sha256 } });
 * if (!g.go) feed.event({ type: 'rollout-waiting', updateId: '1.2', reason: g.reason });
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { OtaError } from '../../common/errors.js';
import { API_VERSION, inWave, loadTrustedKeys, readSigned, rolloutBucket, type Rollout } from '../../contract/index.js';
import type { WorkerContext } from './context.js';
import { readStateFile } from './state-file.js';

export const ROLLOUT_FILE = 'rollouts.json';

/** A rollout this device accepted: its JWS (read again without the expiry check) and when it was issued. */
export interface HeldRollout {
  doc: Rollout;
  jws: string;
  issuedAt: Date;
}

export type RolloutVerdict = { accept: true } | { accept: false; same: boolean; reason: string };

/**
 * Whether a verified rollout replaces the one held for the group: it must be for this device's group and
 * issued after the one held (the same document again, as a broker re-delivers it, is `same`).
 */
export function admitRollout(o: { incoming: { doc: Rollout; jws: string; issuedAt: Date }; held: HeldRollout | null; group: string }): RolloutVerdict {
  const { incoming, held } = o;
  if (incoming.doc.group !== o.group) return { accept: false, same: false, reason: `not-for-this-device: the rollout is for group ${incoming.doc.group}, this device is in ${o.group}` };
  if (held === null || incoming.issuedAt > held.issuedAt) return { accept: true };
  if (incoming.jws === held.jws) return { accept: false, same: true, reason: 'the rollout this device holds' };
  return { accept: false, same: false, reason: `replayed: issued at ${incoming.issuedAt.toISOString()}, not after the rollout this device holds (${held.issuedAt.toISOString()})` };
}

export type ReleaseGate = { go: true } | { go: false; reason: string };

/**
 * Whether a verified release may start on this device. Without a rollout for the group, always (as before
 * rollouts existed). With one, only its own release (by the SHA-256 of the JWS), only while it is running,
 * and only when the device's bucket is in the wave.
 */
export function releaseGate(o: { rollout: Rollout | null; deviceId: string; release: { version: string; sha256: string } }): ReleaseGate {
  const r = o.rollout;
  if (r === null) return { go: true };
  const head = `rollout ${r.id}`;
  if (o.release.sha256 !== r.release.sha256) return { go: false, reason: `${head} carries release ${r.release.version}; release ${o.release.version} waits for a rollout of its own` };
  if (r.state !== 'running') return { go: false, reason: `${head} is ${r.state}${r.reason === null ? '' : ` (${r.reason})`}` };
  const bucket = rolloutBucket(r.id, o.deviceId);
  if (!inWave(bucket, r.wave.basisPoints)) return { go: false, reason: `${head}: wave ${r.wave.index} holds buckets below ${r.wave.basisPoints}, this device's is ${bucket}` };
  return { go: true };
}

/** The SHA-256 (hex) of a compact JWS, as a rollout names its release. */
export function jwsSha256(jws: string): string {
  return createHash('sha256').update(jws.trim(), 'utf8').digest('hex');
}

const fileSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('HeldRollouts'),
  groups: z.record(z.string(), z.strictObject({ jws: z.string().max(64 * 1024), issuedAt: z.iso.datetime({ offset: true }) })),
});

/** The rollouts accepted, per group. */
export class RolloutStore {
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, ROLLOUT_FILE);
  }

  /** The held JWS and issue time per group; none when the file is missing. A broken file is an error: forgetting would let an old wave back in. */
  async load(): Promise<Record<string, { jws: string; issuedAt: string }>> {
    const doc = await readStateFile(this.path, fileSchema, (why, cause) => this.broken(why, cause));
    return doc ? doc.groups : {};
  }

  async save(group: string, jws: string, issuedAt: Date): Promise<void> {
    const groups = { ...(await this.load()), [group]: { jws, issuedAt: issuedAt.toISOString() } };
    await writeFileAtomic(this.path, `${JSON.stringify({ apiVersion: API_VERSION, kind: 'HeldRollouts', groups })}\n`, 0o600);
  }

  private broken(why: string, cause: unknown): OtaError {
    return new OtaError('ERR_OTA_STATE', `the rollout store ${this.path} is unusable: ${why}`, {
      hint: 'releases of the group wait until it is fixed; removing it lets the group\'s retained rollout in again (an older one too, until a newer wave is published)',
      cause,
    });
  }
}

/**
 * The rollout held for this device's group: null when there is none; `problem` when the store or the held
 * document cannot be read (the keys rotated, the file broke): releases then wait, since the group has a rollout
 * whose wave is unknown.
 */
export async function heldRollout(ctx: Pick<WorkerContext, 'config' | 'now'>, store = new RolloutStore(ctx.config.stateDir)): Promise<{ rollout: HeldRollout | null; problem: string | null }> {
  try {
    const entry = (await store.load())[ctx.config.group];
    if (entry === undefined) return { rollout: null, problem: null };
    // Accepted earlier, when its expiry was checked: like a kept release, it stays in force past it.
    const v = await readSigned('rollout', entry.jws, await loadTrustedKeys(ctx.config.trustedKeys), { now: ctx.now(), checkExpiry: false });
    return { rollout: { doc: v.doc, jws: entry.jws, issuedAt: v.issuedAt }, problem: null };
  } catch (e) {
    if (!(e instanceof OtaError)) throw e;
    return { rollout: null, problem: `the held rollout cannot be read: ${e.message}` };
  }
}
