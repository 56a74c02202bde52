import { z } from 'zod';
import { commit, header, id, text, version } from '../fields.js';

/** A rollout's state: running widens the wave; paused and aborted start nothing new (docs/contract.md, "Rollout"). */
export const ROLLOUT_STATES = ['running', 'paused', 'aborted'] as const;

/** The highest share of a wave, in basis points: 10000 is the whole group. */
export const ROLLOUT_FULL = 10_000;

/**
 * A phased rollout of one release to a group (docs/contract.md, "Rollout"). It travels only signed
 * (typ `deb-ota-rollout+jws`), retained on `<prefix>/groups/<group>/rollout`, and is signed again for
 * each wave, pause, resume and abort: one publish, whatever the fleet's size. A device takes part
 * when its bucket (`rolloutBucket`) is below `wave.basisPoints`.
 *
 * @example
 * const r: Rollout = { apiVersion: 'deb-ota/v1', kind: 'Rollout', id: 'r-lxk3a9-4f2c', group: 'lab',
 *   release: { version: '1.2', commit: 'ab…', sha256: 'cd…' }, wave: { index: 0, basisPoints: 100 }, state: 'running', reason: null };
 */
export const rolloutSchema = z.strictObject({
  ...header('Rollout'),
  /** Mixed into every device's bucket: each rollout has its own first percent. */
  id,
  group: id,
  /** The release the rollout carries: its version, commit and the SHA-256 of its compact JWS. */
  release: z.strictObject({
    version,
    commit,
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256: 64 lowercase hex digits'),
  }),
  wave: z.strictObject({
    index: z.number().int().min(0).max(63),
    /** The share of the group in this wave and the ones before, in basis points (100 = 1%). */
    basisPoints: z.number().int().min(0).max(ROLLOUT_FULL),
  }),
  state: z.enum(ROLLOUT_STATES),
  /** Why the state is what it is (a pause's or a halt's reason), or null. */
  reason: text.nullable(),
});

export type Rollout = z.infer<typeof rolloutSchema>;
export type RolloutState = (typeof ROLLOUT_STATES)[number];
