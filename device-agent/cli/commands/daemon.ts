import type { Command } from 'commander';
import { runDaemon, Stopper } from '../../agent/daemon.js';
import { eventText, fetchThrottle, journalLine, type EventText } from '../../agent/journal.js';
import { openAgent } from '../../agent/open.js';
import type { AgentCliIo } from '../main.js';
import { verbConfig } from '../verb.js';

/**
 * `ota-agent daemon [--once]` (docs/agent.md, "Local CLI"): resumes what the record names, then polls the
 * group's release and applies downloads the policy allows, writing its events to stderr as journal lines.
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
        await runDaemon({ agent, config, once: opts.once === true, stopper, log: (level, text) => journal({ level, text }) });
        if (stopper.stopped) journal({ level: 'info', text: 'stopped by a signal' });
      } finally {
        process.off('SIGTERM', stop).off('SIGINT', stop);
        await agent.settled();
        agent.close();
      }
    });
}
