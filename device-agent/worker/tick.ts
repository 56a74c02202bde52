/**
 * `ota-agent worker tick` and `worker report` (docs/agent.md, "The worker protocol"). A tick is what
 * `daemon --once` does, with the relay's memory of the last poll and its jitter: resume what the record names,
 * then one decision of nextDaemonAction (a poll's check, an apply, or nothing), and `done` says when the next
 * decision is due. `--poll` forces the check (the relay's HTTP fallback while the broker is away).
 *
 * @example
 * await tickJob(ctx, { lastPollAt: null, jitter: 0, poll: false, afterStart: true });
 */
import { nextDaemonAction, RECHECK_MS, type DaemonAction } from '../agent/daemon-plan.js';
import { attempt, driveDecision } from '../agent/daemon.js';
import type { AgentRecord } from '../engine/record.js';
import { OtaError } from '../../common/errors.js';
import type { Agent } from '../agent/open.js';
import { reportInventory, withWorkerAgent, type WorkerContext } from './context.js';
import { applyRelease, verifiedRelease } from './release.js';
import { heldRollout } from './rollout-gate.js';
import { takeRollout } from './rollout.js';

export interface TickOptions {
  /** When the relay last had a poll done (a tick that printed `polled: true`); null: never. */
  lastPollAt: Date | null;
  /** In [-1, 1]: this interval's share of the poll jitter (the relay draws it). */
  jitter: number;
  /** Check the group's release now, whatever the interval says (when idle). */
  poll: boolean;
  /** The relay's first tick since it started: the only one that may follow a boot. */
  afterStart: boolean;
}

/**
 * Whether a tick resumes what the record names. An update resting in awaitingReboot is resumed
 * only by the first tick after the relay started (at boot): resuming it asks verifying whether
 * the boot happened, and with no boot, for the reboot again; every later tick would do that
 * again and add its saves, until the loop breaker rolled back an update that was only waiting
 * for its reboot (docs/agent.md, "The loop breaker").
 */
export function resumesNow(record: Pick<AgentRecord, 'state'>, afterStart: boolean): boolean {
  return afterStart || record.state !== 'awaitingReboot';
}

/** The decision of a tick: forced to a check by `--poll` when idle, else the daemon's own. */
export function tickAction(record: AgentRecord, ctx: Pick<WorkerContext, 'config'>, o: Omit<TickOptions, 'afterStart'> & { now: Date }): DaemonAction {
  if (o.poll && record.state === 'idle') return { kind: 'check', id: `poll-${Math.floor(o.now.getTime() / 1000)}` };
  return nextDaemonAction({ record, config: ctx.config, now: o.now, lastPollAt: o.lastPollAt, jitter: o.jitter });
}

/** When the relay should tick again after this decision was carried out: a wait's time; a decision still due, a minute. */
export function nextWakeMs(action: DaemonAction): number | null {
  return action.kind === 'wait' ? action.ms : RECHECK_MS;
}

export async function tickJob(ctx: WorkerContext, o: TickOptions): Promise<void> {
  await ctx.feed.status(true);
  let polled = false;
  let wake: number | null = RECHECK_MS;
  await withWorkerAgent(ctx, async (agent) => {
    if (resumesNow(await agent.store.load(), o.afterStart) && !(await attempt(ctx.log, 'resuming', () => agent.machine.resume()))) return;
    const action = tickAction(await agent.store.load(), ctx, { ...o, now: ctx.now() });
    if (action.kind === 'check') polled = true;
    if (!ctx.stopper.stopped && action.kind !== 'wait') {
      if (action.kind === 'check') await pollGroup(ctx, agent, action);
      else await driveDecision(agent.machine, ctx.config.policy.downloadOnly, action, ctx.log);
    }
    const after = tickAction(await agent.store.load(), ctx, { ...o, poll: false, lastPollAt: polled ? ctx.now() : o.lastPollAt, now: ctx.now() });
    wake = nextWakeMs(after);
    await reportInventory(ctx, agent, false);
  });
  ctx.lines.write({ type: 'done', nextWakeMs: wake, polled });
}

/**
 * A poll's check (docs/agent.md, "Rollouts"): the group's rollout published beside its release over HTTP is taken
 * first, as if heard over MQTT, so a device that missed the rollout's documents (its broker away, or new) still
 * meets the gate. When that document cannot be fetched or does not verify, the poll starts nothing: whether a
 * rollout holds the release back is unknown, and the next poll asks again. `daemon --once` polls the same way.
 */
export async function pollGroup(ctx: WorkerContext, agent: Agent, action: Extract<DaemonAction, { kind: 'check' }>): Promise<void> {
  let twin: string | null = null;
  try {
    twin = (await agent.steps.fetchRollout?.()) ?? null;
  } catch (e) {
    if (!(e instanceof OtaError)) throw e;
    ctx.log('warning', `poll: the group's rollout: ${e.message}; starting nothing until it can be read`);
    return;
  }
  if (twin !== null && !(await takeRollout(ctx, twin, { via: 'http' }))) return;
  if ((await heldRollout(ctx)).rollout !== null) await gatedPoll(ctx, agent);
  else await driveDecision(agent.machine, ctx.config.policy.downloadOnly, action, ctx.log);
}

/**
 * A poll while the group has a rollout (docs/agent.md, "Rollouts"): the group's release is fetched and goes
 * through the rollout's gate like one heard over MQTT, so polling never starts what the rollout holds back.
 */
async function gatedPoll(ctx: WorkerContext, agent: Agent): Promise<void> {
  let fetched: string;
  try {
    fetched = await agent.steps.fetchRelease();
  } catch (e) {
    if (!(e instanceof OtaError)) throw e;
    ctx.log('warning', `poll: ${e.message}`);
    return;
  }
  const jws = await verifiedRelease(ctx, fetched);
  if (jws !== null) await applyRelease(ctx, agent, jws);
}

/** `worker report`: the status and the inventory, both printed whether they changed or not (a (re)connect). */
export async function reportJob(ctx: WorkerContext): Promise<void> {
  await ctx.feed.status(true);
  await withWorkerAgent(ctx, (agent) => reportInventory(ctx, agent, true));
  ctx.lines.write({ type: 'done', nextWakeMs: null, polled: false });
}
