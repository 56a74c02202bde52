/**
 * What the update verbs share (docs/agent.md, "Local CLI"): load the configuration, open the agent, show its
 * events as lines while the machine runs, say how the run ended, set the exit code, and with `--json` print
 * the contract's status document afterwards. How a run ended is a pure function of the record before and
 * after, so the exit codes are unit-tested.
 *
 * @example
 * await driveVerb({ program, io, state, json: opts.json }, (agent) => agent.machine.check({ id, intent: 'rollback' }));
 */
import type { Command } from 'commander';
import { printJson } from '../../common/cli-json.js';
import { EXIT } from '../../common/errors.js';
import { packageVersion } from '../../common/package-version.js';
import { eventText, fetchThrottle } from '../agent/journal.js';
import { openAgent, type Agent } from '../agent/open.js';
import { loadAgentConfig } from '../config/load.js';
import type { AgentConfig } from '../config/schema.js';
import type { AgentRecord } from '../engine/record.js';
import type { AgentCliIo, RunState } from './main.js';
import { readDeviceStatus } from './read-status.js';

export interface VerbContext {
  program: Command;
  io: AgentCliIo;
  state: RunState;
  json?: boolean;
}

export interface VerbOutcome {
  exitCode: number;
  line: string;
}

/** How a verb's run ended, from the record before it and the one the machine rests in. */
export function verbOutcome(before: AgentRecord, after: AgentRecord): VerbOutcome {
  const u = after.update;
  if (after.state === 'downloaded' && u !== null) {
    const why = u.downloadOnly ? 'download only' : 'outside the maintenance window';
    return { exitCode: 0, line: `${u.id}: ${u.version ?? 'the update'} is downloaded (${why}); \`ota-agent upgrade\` applies it` };
  }
  if (after.state === 'awaitingReboot' && u !== null) {
    const asked = u.log.findLast((e) => e.event === 'rebootRequested' || e.event === 'rebootDeferred')?.event === 'rebootRequested';
    return { exitCode: 0, line: `${u.id}: ${u.version ?? 'the update'} is deployed; ${asked ? 'a reboot was requested' : 'reboot to finish it (reboot: manual)'}` };
  }
  if (after.state !== 'idle') return { exitCode: EXIT.failure, line: `${u?.id ?? 'the update'} stopped in ${after.state}` };
  const last = after.lastResult;
  if (last === null || (before.lastResult !== null && last.id === before.lastResult.id && last.at === before.lastResult.at)) {
    return { exitCode: 0, line: 'up to date: nothing to do' };
  }
  const what = `${last.id}${last.version === null ? '' : ` (${last.version})`}`;
  if (last.result === 'committed') return { exitCode: 0, line: `${what}: committed` };
  return { exitCode: EXIT.failure, line: `${what}: ${last.result}${last.reason === null ? '' : `: ${last.reason}`}` };
}

/** The configuration under `--root`. */
export async function verbConfig(program: Command): Promise<AgentConfig> {
  return (await loadAgentConfig({ root: program.opts<{ root: string }>().root })).config;
}

/** Events as lines while the machine runs: on stdout, or on stderr with --json (stdout holds the document). */
export function verbLines(ctx: VerbContext): (text: string) => void {
  return (text) => (ctx.json ? ctx.io.err(`${text}\n`) : ctx.io.out(text));
}

/** Opens the agent with its events shown as lines; closes it after `work`, whatever happens. */
export async function withAgent<T>(ctx: VerbContext, config: AgentConfig, work: (agent: Agent) => Promise<T>): Promise<T> {
  const show = verbLines(ctx);
  const pass = fetchThrottle();
  const agent = await openAgent(config, { emit: (e) => void (pass(e, Date.now()) && show(eventText(e).text)) });
  try {
    return await work(agent);
  } finally {
    await agent.settled();
    agent.close();
  }
}

/** Drives the machine once, says how it ended, sets the exit code, and prints the status document with --json. */
export async function driveVerb(ctx: VerbContext, drive: (agent: Agent, config: AgentConfig) => Promise<AgentRecord>): Promise<void> {
  const config = await verbConfig(ctx.program);
  const outcome = await withAgent(ctx, config, async (agent) => {
    const before = await agent.store.load();
    return verbOutcome(before, await drive(agent, config));
  });
  verbLines(ctx)(outcome.line);
  ctx.state.exitCode = outcome.exitCode;
  if (ctx.json) await printStatus(ctx, config);
}

/** `--json`: the contract's status document, the same as `ota-agent status --json`. */
export async function printStatus(ctx: VerbContext, config: AgentConfig): Promise<void> {
  const s = await readDeviceStatus(config, { agentVersion: await packageVersion(), now: ctx.io.now() });
  printJson(ctx.io.out, s.status);
}

/** Longest update id the record and the status document take. */
export const MAX_UPDATE_ID_CHARS = 128;

/** `<verb>-<version>`, cut to MAX_UPDATE_ID_CHARS: a version may be 128 characters long, the id no longer. */
export function updateId(verb: string, version: string): string {
  return `${verb}-${version}`.slice(0, MAX_UPDATE_ID_CHARS);
}

/** The `<unix seconds>` part of an update id. */
export const unixSeconds = (at: Date = new Date()) => Math.floor(at.getTime() / 1000);
