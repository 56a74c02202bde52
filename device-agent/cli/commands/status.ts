import type { Command } from 'commander';
import { loadAgentConfig } from '../../config/load.js';
import { printJson } from '../../../common/cli-json.js';
import type { AgentCliIo } from '../main.js';
import { readDeviceStatus } from '../read-status.js';
import { statusLines } from '../status.js';
import { packageVersion } from '../../../common/package-version.js';

/** `ota-agent status [--json]`: the deployments, the bootloader and the update (docs/agent.md, "Local CLI"). */
export function registerStatus(program: Command, io: AgentCliIo): void {
  program
    .command('status')
    .description('show the booted, staged and rollback deployments, the bootloader state and the update in progress')
    .option('--json', "print the contract's status document (docs/cli-json.md)")
    .action(async (opts: { json?: boolean }) => {
      const { config } = await loadAgentConfig({ root: program.opts<{ root: string }>().root });
      const s = await readDeviceStatus(config, { agentVersion: await packageVersion(), now: io.now() });
      if (opts.json) printJson(io.out, s.status);
      else for (const l of statusLines(s)) io.out(l);
    });
}
