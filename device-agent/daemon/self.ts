import { startLines, type LinesChild, type LinesOptions } from '../../common/exec.js';
import { RELAY_NODE_FLAGS } from './node-flags.js';

/**
 * How the relay starts itself as a worker (docs/agent.md, "The daemon and its workers"): the same
 * node, the same flags but the relay's own memory flags (RELAY_NODE_FLAGS: an interpreter-only
 * worker would verify and deploy slower), the same entry script, `worker <job> --root <root>
 * ...args`. The one place
 * that names the command, so a test can point it at a stand-in: `OTA_AGENT_SELF`, a JSON array,
 * replaces `[node, ...flags, script]`.
 *
 * @example
 * const c = startSelf(['worker', 'tick', '--root', '/'], { input: '', onLine, maxLineBytes, onLongLine });
 */
export function selfArgv(args: readonly string[]): string[] {
  const override = process.env.OTA_AGENT_SELF;
  const flags = process.execArgv.filter((f) => !RELAY_NODE_FLAGS.includes(f));
  const prefix = override ? (JSON.parse(override) as string[]) : [process.execPath, ...flags, process.argv[1]!];
  return [...prefix, ...args];
}

export function startSelf(args: readonly string[], options: LinesOptions): LinesChild {
  return startLines(`ota-agent ${args.slice(0, 2).join(' ')}`, selfArgv(args), options);
}

/** The worker's argv for a job. */
export function workerArgs(job: string, root: string, extra: readonly string[] = []): string[] {
  return ['worker', job, '--root', root, ...extra];
}
