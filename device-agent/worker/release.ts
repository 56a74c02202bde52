/**
 * `ota-agent worker release` (docs/agent.md, "The worker protocol"): the group's retained release, as the relay
 * received it, on stdin. It is verified with the trusted keys and put through the same preflight as a poll's
 * release before anything is written: a refusal is one `refused` event and changes nothing; a release that is
 * running, or one this device rolled back from, is nothing at all (the broker re-delivers it on every
 * reconnect); a release the group's rollout holds back is one `rollout-waiting` event (docs/agent.md,
 * "Rollouts"); a newer one starts an upgrade that uses this JWS instead of fetching the group's release again.
 *
 * @example
 * await releaseJob(ctx, await readInput());
 */
import { OtaError } from '../../common/errors.js';
import { loadTrustedKeys, readSigned, readUnverified } from '../../contract/index.js';
import type { Agent } from '../agent/open.js';
import { skippedRelease } from '../engine/record.js';
import { unixSeconds } from '../cli/verb.js';
import { signedRefusal, withWorkerAgent, type WorkerContext } from './context.js';
import { heldRollout, jwsSha256, releaseGate } from './rollout-gate.js';

export async function releaseJob(ctx: WorkerContext, input: string | null): Promise<void> {
  const jws = await verifiedRelease(ctx, input);
  if (jws !== null) await startRelease(ctx, jws);
  ctx.lines.write({ type: 'done', nextWakeMs: null, polled: false });
}

/** A verified release through preflight and the rollout's gate, then the upgrade, with the agent opened for it. */
export async function startRelease(ctx: WorkerContext, jws: string): Promise<void> {
  await withWorkerAgent(ctx, (agent) => applyRelease(ctx, agent, jws));
}

/** startRelease's work on an agent already open (a tick's gated poll opens it itself). */
export async function applyRelease(ctx: WorkerContext, agent: Agent, jws: string): Promise<void> {
  const record = await agent.store.load();
  const fromCommit = await agent.bootedCommit();
  const v = await agent.steps.preflight({ intent: 'upgrade', releaseJws: jws, bundlePath: null, belowFloor: false, floor: record.floor, fromCommit, toCommit: null });
  if (v.verdict === 'refused') {
    const version = readUnverified('release', jws, { checkExpiry: false }).doc.version;
    // A release the group's rollout gives this device is refused through the engine, so the refusal is
    // recorded and the retained status says so: the controller counts it, rather than wait for it forever.
    if (record.state === 'idle' && (await rolloutWaiting(ctx, jws, version)) === null && (await heldRollout(ctx)).rollout !== null) return check(ctx, agent, jws, version);
    ctx.feed.event({ type: 'refused', updateId: null, reason: v.reason });
    ctx.log('warning', `release refused: ${v.reason}`);
    return;
  }
  if (v.verdict === 'upToDate') return;
  const name = v.target.version ?? v.target.commit;
  const skipped = skippedRelease(record.skippedReleases, v.target.commit);
  if (skipped !== undefined) {
    ctx.log('info', `release ${name}: skipped, this device rolled back from it`);
    return;
  }
  const waiting = await rolloutWaiting(ctx, jws, name);
  if (waiting !== null) {
    ctx.feed.event({ type: 'rollout-waiting', updateId: v.target.version, reason: waiting });
    ctx.log('info', `release ${name}: waiting, ${waiting}`);
    return;
  }
  if (record.state !== 'idle') {
    // One update at a time: the next poll (or the next announcement) finds this release again.
    ctx.log('info', `release ${name}: not now, ${record.update?.id ?? 'an update'} is in ${record.state}`);
    return;
  }
  await check(ctx, agent, jws, v.target.version ?? `release-${unixSeconds(ctx.now())}`);
}

async function check(ctx: WorkerContext, agent: Agent, jws: string, id: string): Promise<void> {
  await ctx.feed.status();
  try {
    await agent.machine.check({ id, intent: 'upgrade', releaseJws: jws, downloadOnly: ctx.config.policy.downloadOnly });
  } catch (e) {
    // A verb holding the lock, a failed save: the next tick finds the release again.
    if (!(e instanceof OtaError)) throw e;
    ctx.log('error', `release ${id}: ${e.message}`);
  }
}

/** Why the group's rollout holds this release back, or null when it may start. */
async function rolloutWaiting(ctx: WorkerContext, jws: string, version: string): Promise<string | null> {
  const held = await heldRollout(ctx);
  if (held.problem !== null) return held.problem;
  const gate = releaseGate({ rollout: held.rollout?.doc ?? null, deviceId: ctx.config.deviceId, release: { version, sha256: jwsSha256(jws) } });
  return gate.go ? null : gate.reason;
}

/** The input when it is a release this device's keys signed; otherwise a `refused` event (untrusted) and null. */
export async function verifiedRelease(ctx: WorkerContext, input: string | null): Promise<string | null> {
  // No journal line of its own: the relay journals untrusted events through its bad-input rate limit.
  const refuse = (reason: string) => {
    ctx.feed.event({ type: 'refused', updateId: null, reason }, true);
    return null;
  };
  if (input === null) return refuse('malformed: the release is not UTF-8');
  const jws = input.trim();
  try {
    await readSigned('release', jws, await loadTrustedKeys(ctx.config.trustedKeys), { now: ctx.now() });
    return jws;
  } catch (e) {
    const reason = signedRefusal(e);
    if (reason === null) throw e;
    return refuse(reason);
  }
}
