import { agentBuild } from '../../common/build-info.js';
import { startLines, type LinesChild, type LinesOptions } from '../../common/exec.js';
import { ALL_RELAY_NODE_FLAGS, seaTakesNodeOptionsArg, workerNodeFlags } from './node-flags.js';

/**
 * How the relay starts itself as a worker (docs/agent.md, "The daemon and its workers"): the same
 * node, the same flags but the relay's own (node-flags.ts: an interpreter-only worker would have
 * no WebAssembly for undici's HTTP parser) and with the workers' own (workerNodeFlags), the same
 * entry script, `worker <job> --root <root> ...args`. In the one-file agent (docs/agent.md, "Shipping the agent") `process.execPath` is the
 * agent itself and there is no script; its relay's flags came as `--node-options=`, which Node
 * took out of argv, or (Node 20) from NODE_OPTIONS, which the worker gets without them. The one place that names the command, so a test can point it at a stand-in:
 * `OTA_AGENT_SELF`, a JSON array, replaces `[node, ...flags, script]`.
 *
 * @example
 * const c = startSelf(['worker', 'tick', '--root', '/'], { input: '', onLine, maxLineBytes, onLongLine });
 */
export function selfArgv(args: readonly string[]): string[] {
  const override = process.env.OTA_AGENT_SELF;
  if (override) return [...(JSON.parse(override) as string[]), ...args];
  if (agentBuild()?.sea) {
    // Node 20's executable takes flags only from NODE_OPTIONS, which refuses the workers' (node-flags.ts).
    const flags = seaTakesNodeOptionsArg(process.versions.node) ? [`--node-options=${workerNodeFlags().join(' ')}`] : [];
    return [process.execPath, ...flags, ...args];
  }
  const flags = process.execArgv.filter((f) => !ALL_RELAY_NODE_FLAGS.includes(f) && !workerNodeFlags().includes(f));
  return [process.execPath, ...flags, ...workerNodeFlags(), process.argv[1]!, ...args];
}

/** The environment a worker runs in: the relay's, with the relay's flags taken out of NODE_OPTIONS. */
export function selfEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (env.NODE_OPTIONS === undefined) return env;
  const kept = env.NODE_OPTIONS.split(/\s+/).filter((f) => f !== '' && !ALL_RELAY_NODE_FLAGS.includes(f));
  const rest = { ...env };
  delete rest.NODE_OPTIONS;
  return kept.length === 0 ? rest : { ...rest, NODE_OPTIONS: kept.join(' ') };
}

export function startSelf(args: readonly string[], options: LinesOptions): LinesChild {
  return startLines(`ota-agent ${args.slice(0, 2).join(' ')}`, selfArgv(args), { ...options, env: selfEnv(options.env ?? process.env) });
}

/** The worker's argv for a job. */
export function workerArgs(job: string, root: string, extra: readonly string[] = []): string[] {
  return ['worker', job, '--root', root, ...extra];
}
