import { createHash } from 'node:crypto';

/**
 * The SHA-256 (hex) of a release's compact JWS, as a rollout document names its release (docs/contract.md,
 * "Rollout"): the agent computes the same over the release it hears, surrounding whitespace trimmed.
 *
 * @example
 * jwsDigest(await readFile('PUBLISHED/releases/os/1.2.jws', 'utf8'));
 */
export function jwsDigest(jws: string): string {
  return createHash('sha256').update(jws.trim(), 'utf8').digest('hex');
}
