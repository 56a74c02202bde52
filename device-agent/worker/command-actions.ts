/**
 * The actions of accepted commands (docs/agent.md, "The worker protocol"), carried out on the opened agent: the
 * update intents drive the machine as the verbs do (the update's id is the command's nonce), reboot runs the
 * configured reboot command, health-check runs the checks once (no rollback, no mark), report prints status and
 * inventory. Each returns how it ended, as the text of its command-completed or command-failed event.
 *
 * @example
 * const { ok, text } = await carryOutCommand({ ctx, agent, decision: { kind: 'rollback' }, nonce });
 */
import { run } from '../../common/exec.js';
import { loadTrustedKeys, readSigned } from '../../contract/index.js';
import type { Agent } from '../agent/open.js';
import { runningRef } from '../cli/commands/deploy.js';
import { verbOutcome } from '../cli/verb.js';
import type { AgentRecord } from '../engine/record.js';
import { healthSummary } from '../health/report.js';
import { createHealthRunner } from '../health/runner.js';
import { reportInventory, type WorkerContext } from './context.js';
import type { CommandDecision } from './dispatch.js';

export interface CommandResult {
  ok: boolean;
  text: string;
}

type Accepted = Exclude<CommandDecision, { kind: 'refuse' }>;

/** What a command will do, for its command-received event and the journal. */
export function actionText(d: Accepted): string {
  switch (d.kind) {
    case 'update':
      return d.version === null ? "update to the group's release" : `update to ${d.version} if it is the group's release`;
    case 'rollback':
      return 'roll back to the previous deployment';
    case 'deploy':
      return `roll back to version ${d.version}${d.belowFloor ? ', below the floor allowed' : ''}`;
    default:
      return d.kind;
  }
}

export interface CarryOut {
  ctx: WorkerContext;
  agent: Agent;
  decision: Accepted;
  nonce: string;
}

export async function carryOutCommand({ ctx, agent, decision: d, nonce }: CarryOut): Promise<CommandResult> {
  switch (d.kind) {
    case 'update':
      return drive(agent, async () => {
        if (d.version === null) return agent.machine.check({ id: nonce, intent: 'upgrade', downloadOnly: ctx.config.policy.downloadOnly });
        const group = await groupRelease(ctx, agent);
        if (group.version !== d.version) return `the group's release is ${group.version}, not ${d.version}`;
        return agent.machine.check({ id: nonce, intent: 'upgrade', downloadOnly: ctx.config.policy.downloadOnly, releaseJws: group.jws });
      });
    case 'rollback':
      return drive(agent, () => agent.machine.check({ id: nonce, intent: 'rollback' }));
    case 'deploy':
      return drive(agent, async () => {
        const releaseJws = await agent.steps.fetchVersion(await runningRef(agent), d.version);
        return agent.machine.check({ id: nonce, intent: 'deploy', releaseJws, belowFloor: d.belowFloor });
      });
    case 'reboot':
      await run('asking the system to reboot', ctx.config.rebootCommand);
      return { ok: true, text: 'reboot requested' };
    case 'health-check':
      return healthCheck(ctx);
    case 'report':
      await ctx.feed.status(true);
      await reportInventory(ctx, agent, true);
      return { ok: true, text: 'status and inventory sent' };
  }
}

/** Runs the machine once and says how it ended, as the verbs do; `work` returning a string is a failure it names. */
async function drive(agent: Agent, work: () => Promise<AgentRecord | string>): Promise<CommandResult> {
  const before = await agent.store.load();
  const after = await work();
  if (typeof after === 'string') return { ok: false, text: after };
  const o = verbOutcome(before, after);
  return { ok: o.exitCode === 0, text: o.line };
}

/** The group's release, verified as any release is. */
async function groupRelease(ctx: WorkerContext, agent: Agent): Promise<{ jws: string; version: string }> {
  const jws = await agent.steps.fetchRelease();
  const { doc } = await readSigned('release', jws, await loadTrustedKeys(ctx.config.trustedKeys), { now: ctx.now() });
  return { jws, version: doc.version };
}

async function healthCheck(ctx: WorkerContext): Promise<CommandResult> {
  const report = await createHealthRunner(ctx.config.health, { diskPath: ctx.config.sysroot }).run();
  const summary = healthSummary(report);
  ctx.feed.event({ type: report.ok ? 'health-check-passed' : 'health-check-failed', updateId: null, reason: summary });
  return { ok: true, text: `health checks ${report.ok ? 'passed' : 'failed'}: ${summary}` };
}
