/**
 * `ota-agent worker rollout` (docs/agent.md, "Rollouts"): the group's retained rollout on the first line of
 * stdin, and the group's release the relay last heard (if any) on the second. The rollout is verified with the
 * trusted keys and accepted only when it is for this device's group and issued after the one held
 * (`admitRollout`); it is then written to the rollout store before anything acts on it. With a release, the
 * release goes the way a `release` job's does, through the gate of the rollout now held: a widened wave starts
 * the update on the devices it now holds.
 *
 * @example
 * await rolloutJob(ctx, `${rolloutJws}\n${releaseJws}`);
 */
import { loadTrustedKeys, readSigned } from '../../contract/index.js';
import { signedRefusal, type WorkerContext } from './context.js';
import { startRelease, verifiedRelease } from './release.js';
import { admitRollout, heldRollout, RolloutStore, type HeldRollout } from './rollout-gate.js';

export async function rolloutJob(ctx: WorkerContext, input: string | null): Promise<void> {
  const [first, ...rest] = (input ?? '').split('\n');
  const taken = input === null ? false : await takeRollout(ctx, first ?? '', { via: 'mqtt' });
  if (taken) {
    const release = rest.join('\n').trim();
    if (release !== '') {
      const jws = await verifiedRelease(ctx, release);
      if (jws !== null) await startRelease(ctx, jws);
    }
  } else if (input === null) {
    ctx.feed.event({ type: 'refused', updateId: null, reason: 'malformed: the rollout is not UTF-8' }, true);
  }
  ctx.lines.write({ type: 'done', nextWakeMs: null, polled: false });
}

/**
 * A rollout document heard over MQTT, or read beside the group's release over HTTP by a poll: verified, and
 * written to the store when it is for this group and issued after the one held. False when it does not verify
 * (one `refused` event, untrusted). Over HTTP its expiry is not checked (holding an old wave only holds back
 * more) and an older copy than the one held is the normal lag of a web server or a CDN: logged, no event.
 */
export async function takeRollout(ctx: WorkerContext, text: string, o: { via: 'mqtt' | 'http' }): Promise<boolean> {
  const incoming = await verifiedRollout(ctx, text, o.via === 'mqtt');
  if (incoming === null) return false;
  const store = new RolloutStore(ctx.config.stateDir);
  const held = await heldRollout(ctx, store);
  const v = admitRollout({ incoming, held: held.rollout, group: ctx.config.group });
  const d = incoming.doc;
  if (v.accept) {
    await store.save(ctx.config.group, incoming.jws, incoming.issuedAt);
    ctx.log('info', `rollout ${d.id} of ${d.release.version}: wave ${d.wave.index} (${d.wave.basisPoints / 100}%), ${d.state}${o.via === 'http' ? ', read over HTTP' : ''}`);
  } else if (o.via === 'http') {
    if (!v.same) ctx.log('info', `the group's rollout over HTTP is not taken: ${v.reason}`);
  } else if (!v.same) {
    ctx.feed.event({ type: 'refused', updateId: null, reason: v.reason }, true);
  }
  return true;
}

async function verifiedRollout(ctx: WorkerContext, text: string, checkExpiry: boolean): Promise<HeldRollout | null> {
  const jws = text.trim();
  try {
    const v = await readSigned('rollout', jws, await loadTrustedKeys(ctx.config.trustedKeys), { now: ctx.now(), checkExpiry });
    return { doc: v.doc, jws, issuedAt: v.issuedAt };
  } catch (e) {
    const reason = signedRefusal(e);
    if (reason === null) throw e;
    ctx.feed.event({ type: 'refused', updateId: null, reason }, true);
    return null;
  }
}
