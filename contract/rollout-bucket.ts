import { createHash } from 'node:crypto';

/**
 * A device's bucket in a rollout, 0 to 9999 (docs/contract.md, "Rollout"): the first 4 bytes of
 * SHA-256("deb-ota rollout " + rolloutId + " " + deviceId) as a big-endian uint32, mod 10000. The
 * device takes part in a wave when its bucket is below the wave's basis points. Both halves compute
 * it: the device to decide, the controller to count whom a wave holds. The rollout id is mixed in,
 * so each rollout has its own first percent and the same canaries are not always the ones burnt.
 * It loads no zod, so the agent's relay could use it too.
 *
 * @example
 * rolloutBucket('r-1', 'gw-1') < 100; // whether gw-1 is in a 1% wave of rollout r-1
 */
export function rolloutBucket(rolloutId: string, deviceId: string): number {
  const digest = createHash('sha256').update(`deb-ota rollout ${rolloutId} ${deviceId}`, 'utf8').digest();
  return digest.readUInt32BE(0) % 10_000;
}

/** Whether a device of bucket `bucket` takes part in a wave of `basisPoints`. */
export function inWave(bucket: number, basisPoints: number): boolean {
  return bucket < basisPoints;
}
