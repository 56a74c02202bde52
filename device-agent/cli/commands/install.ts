import { resolve } from 'node:path';
import type { Command } from 'commander';
import { openBundle } from '../../../bundle/index.js';
import type { AgentCliIo, RunState } from '../main.js';
import { driveVerb, updateId } from '../verb.js';

/**
 * `ota-agent install FILE [--json]` (docs/agent.md, "Local CLI"): an update from an offline bundle made by
 * `ota bundle`. The bundle is opened (its structure checked, its manifest read) before the update begins, so
 * a file that is not a bundle changes nothing.
 */
export function registerInstall(program: Command, io: AgentCliIo, state: RunState): void {
  program
    .command('install')
    .description('update from an offline bundle (`ota bundle`): verified, applied without the network')
    .argument('<file>', 'the bundle file')
    .option('--json', "print the contract's status document afterwards (docs/cli-json.md)")
    .action(async (file: string, opts: { json?: boolean }) => {
      const bundlePath = resolve(file);
      const bundle = await openBundle(bundlePath);
      await driveVerb({ program, io, state, json: opts.json === true }, (agent) =>
        agent.machine.check({ id: updateId('install', bundle.header.version), intent: 'install', releaseJws: bundle.manifestJws, bundlePath }),
      );
    });
}
