import type { Command } from 'commander';
import type { AgentCliIo, RunState } from '../main.js';
import { driveVerb, unixSeconds } from '../verb.js';

/**
 * `ota-agent rollback [--below-floor] [--json]` (docs/agent.md, "Local CLI"): the deployment after the
 * running one, already on disk, becomes the default and the device reboots into it, with the boot counter
 * armed and the health checks after the boot as for any update.
 */
export function registerRollback(program: Command, io: AgentCliIo, state: RunState): void {
  program
    .command('rollback')
    .description('go back to the previous deployment (already on disk), through the same checks as an update')
    .option('--below-floor', 'allow a deployment at or below the anti-rollback floor (root on the device only)')
    .option('--json', "print the contract's status document afterwards (docs/cli-json.md)")
    .action(async (opts: { belowFloor?: boolean; json?: boolean }) => {
      await driveVerb({ program, io, state, json: opts.json === true }, (agent) =>
        agent.machine.check({ id: `rollback-${unixSeconds()}`, intent: 'rollback', belowFloor: opts.belowFloor === true }),
      );
    });
}
