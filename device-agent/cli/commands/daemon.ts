import type { Command } from 'commander';
import { runDaemon, Stopper } from '../../agent/daemon.js';
import { eventText, fetchThrottle, journalLine, type EventText, type Level } from '../../agent/journal.js';
import { openAgent } from '../../agent/open.js';
import { packageVersion } from '../../../common/package-version.js';
import type { WorkerContext } from '../../worker/context.js';
import { StatusFeed } from '../../worker/feed.js';
import type { LineWriter } from '../../worker/lines.js';
import { pollGroup } from '../../worker/tick.js';
import type { AgentCliIo } from '../main.js';
import { verbConfig } from '../verb.js';

const NO_LINES: LineWriter = { write: () => {} };

/**
 * `ota-agent daemon [--once]` (docs/agent.md, "Local CLI"): resumes what the record names, then polls the
 * group's release (through its rollout, as the relay's ticks do) and applies downloads the policy allows,
 * writing its events to stderr as journal lines.
 * SIGTERM and SIGINT end a wait at once, and a run at the next state a restart continues from; exit 0.
 */
export function registerDaemon(program: Command, io: AgentCliIo): void {
  program
    .command('daemon')
    .description("run the agent: resume an update in progress, poll the group's release, apply what the policy allows")
    .option('--once', 'resume, check once, and exit (for a timer instead of a long-running service)')
    .action(async (opts: { once?: boolean }) => {
      const config = await verbConfig(program);
      const stopper = new Stopper();
      const stop = () => stopper.stop();
      const journal = (t: EventText) => io.err(`${journalLine(t)}\n`);
      const pass = fetchThrottle();
      process.on('SIGTERM', stop).on('SIGINT', stop);
      const agent = await openAgent(config, { emit: (e) => void (pass(e, Date.now()) && journal(eventText(e))), shouldStop: () => stopper.stopped });
      try {
        const poll = config.pollIntervalSeconds === 0 ? 'polling off' : `polling every ${config.pollIntervalSeconds} s`;
        journal({ level: 'info', text: `ota-agent daemon${opts.once ? ' --once' : ''}: device ${config.deviceId}, group ${config.group}, ${poll}` });
        const log = (level: Level, text: string) => journal({ level, text });
        // A poll reads the group's rollout first, as the relay's ticks do; with no relay to hear them, status and event lines go nowhere.
        const feed = new StatusFeed({ config, lines: NO_LINES, agentVersion: await packageVersion(), now: io.now });
        const ctx: WorkerContext = { config, lines: NO_LINES, feed, log, now: io.now, stopper };
        await runDaemon({ agent, config, once: opts.once === true, stopper, log, check: (action) => pollGroup(ctx, agent, action) });
        if (stopper.stopped) journal({ level: 'info', text: 'stopped by a signal' });
      } finally {
        process.off('SIGTERM', stop).off('SIGINT', stop);
        await agent.settled();
        agent.close();
      }
    });
}
