import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import { packageVersion } from '../../../common/package-version.js';
import { MAX_JWS_CHARS } from '../../../contract/limits.js';
import { Stopper } from '../../agent/daemon.js';
import { commandJob } from '../../worker/command.js';
import { journalOf, readInput, type WorkerContext } from '../../worker/context.js';
import { StatusFeed } from '../../worker/feed.js';
import { lineWriter } from '../../worker/lines.js';
import { releaseJob } from '../../worker/release.js';
import { rolloutJob } from '../../worker/rollout.js';
import { reportJob, tickJob } from '../../worker/tick.js';
import type { AgentCliIo } from '../main.js';
import { verbConfig } from '../verb.js';

export const WORKER_JOBS = ['tick', 'release', 'rollout', 'command', 'report'] as const;

interface WorkerOpts {
  lastPoll?: string;
  jitter?: string;
  poll?: boolean;
  afterStart?: boolean;
}

/**
 * `ota-agent worker <job>` (docs/agent.md, "The worker protocol"): one short-lived job for the daemon's relay,
 * which reads its JSON lines on stdout; journal lines go to stderr. Hidden from --help, completion and the man
 * page: people run the verbs. SIGTERM stops a job where a restart continues, as the daemon's does.
 */
export function registerWorker(program: Command, io: AgentCliIo): void {
  program
    .command('worker', { hidden: true })
    .description("one job for the daemon's relay, printing JSON lines (not for people)")
    .argument('<job>', `one of ${WORKER_JOBS.join(', ')}`)
    .option('--last-poll <unixms>', 'tick: when the last poll was made (Unix milliseconds)')
    .option('--jitter <j>', "tick: this interval's share of the poll jitter, in [-1, 1]")
    .option('--poll', "tick: check the group's release now")
    .option('--after-start', "tick: the relay's first since it started: resume an update waiting for its reboot")
    .action(async (job: string, opts: WorkerOpts) => {
      if (!(WORKER_JOBS as readonly string[]).includes(job)) {
        throw new OtaError('ERR_OTA_USAGE', `worker: unknown job ${JSON.stringify(job)}`, { hint: `one of ${WORKER_JOBS.join(', ')}` });
      }
      const config = await verbConfig(program);
      const lines = lineWriter(io.out);
      const stopper = new Stopper();
      const stop = () => stopper.stop();
      process.on('SIGTERM', stop).on('SIGINT', stop);
      const feed = new StatusFeed({ config, lines, agentVersion: await packageVersion(), now: io.now });
      const ctx: WorkerContext = { config, lines, feed, log: journalOf(io.err), now: io.now, stopper };
      try {
        await runJob(ctx, job, opts);
      } finally {
        process.off('SIGTERM', stop).off('SIGINT', stop);
      }
    });
}

async function runJob(ctx: WorkerContext, job: string, opts: WorkerOpts): Promise<void> {
  switch (job) {
    case 'tick':
      return tickJob(ctx, { lastPollAt: lastPoll(opts.lastPoll), jitter: jitter(opts.jitter), poll: opts.poll === true, afterStart: opts.afterStart === true });
    case 'release':
      return releaseJob(ctx, await readInput());
    case 'rollout':
      // The rollout, then the release the relay last heard: both limits and the line between them.
      return rolloutJob(ctx, await readInput(process.stdin, MAX_JWS_CHARS.rollout + MAX_JWS_CHARS.release + 2));
    case 'command':
      return commandJob(ctx, await readInput());
    default:
      return reportJob(ctx);
  }
}

function lastPoll(value: string | undefined): Date | null {
  if (value === undefined) return null;
  const ms = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(ms)) throw new OtaError('ERR_OTA_USAGE', `worker tick --last-poll ${JSON.stringify(value)}: not Unix milliseconds`, { hint: 'a whole number such as 1767225600000' });
  return new Date(ms);
}

function jitter(value: string | undefined): number {
  if (value === undefined) return 0;
  const j = Number(value);
  if (value.trim() === '' || !Number.isFinite(j) || j < -1 || j > 1) throw new OtaError('ERR_OTA_USAGE', `worker tick --jitter ${JSON.stringify(value)}: not a number in [-1, 1]`, { hint: 'the relay draws it at random' });
  return j;
}
