/**
 * Signing and publishing a group's rollout document from the controller's state
 * (docs/fleet.md, "Where a rollout's state lives"): the state is written first, with the new document's `iat`, then the document is
 * published retained. A controller killed between the two finds on restart a retained document older than its
 * state, and publishes again (`retainedMatches`).
 *
 * @example
 * state = await publishRollout({ session, state, key, statePath, now: new Date() });
 */
import { loadTrustedKeys, readSigned, signDocument, topics, type SigningKey } from '../../contract/index.js';
import type { BrokerSession } from '../mqtt/client.js';
import { nextIssuedAt, rolloutDocument } from './rollout-decide.js';
import { writeRolloutTwin } from './rollout-twin.js';
import { saveRolloutState, type RolloutControl } from './rollout-state.js';

export interface PublishRolloutOptions {
  session: Pick<BrokerSession, 'publish'>;
  state: RolloutControl;
  key: SigningKey;
  statePath: string;
  now: Date;
}

/**
 * Saves the state with the document's issue time, writes the signed document beside the group's release in the
 * published folder (`writeRolloutTwin`), then publishes it, retained, QoS 1.
 */
export async function publishRollout(o: PublishRolloutOptions): Promise<RolloutControl> {
  const iat = nextIssuedAt(o.state, o.now);
  const state = { ...o.state, lastIssuedAt: iat };
  await saveRolloutState(o.statePath, state);
  const jws = await signDocument('rollout', rolloutDocument(state), o.key, { now: new Date(iat * 1000) });
  // The HTTP copy first: a poll never finds a release pointer newer than the gate beside it.
  await writeRolloutTwin(state, jws);
  await o.session.publish(topics(state.prefix).groupRollout(state.group), jws, { qos: 1, retain: true });
  return state;
}

/**
 * Whether the retained rollout document is the one the state last published: signed by the key (its public
 * half), for this rollout, issued at the state's `lastIssuedAt`. Anything else (none, another key, an older
 * one) means the publish did not happen or was replaced.
 */
export async function retainedMatches(jws: string | null, state: RolloutControl, key: SigningKey): Promise<boolean> {
  if (jws === null || jws === '') return false;
  try {
    const v = await readSigned('rollout', jws, await loadTrustedKeys({ keys: [key.publicJwk] }), { checkExpiry: false });
    return v.doc.id === state.id && Math.floor(v.issuedAt.getTime() / 1000) === state.lastIssuedAt;
  } catch {
    return false;
  }
}
