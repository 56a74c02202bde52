import type { Command } from 'commander';
import { stringify } from 'yaml';
import { printJson } from '../../../common/cli-json.js';
import { API_VERSION, loadTrustedKeys } from '../../../contract/index.js';
import { loadAgentConfig } from '../../config/load.js';
import type { AgentConfig } from '../../config/schema.js';
import type { AgentCliIo } from '../main.js';

/** `ota-agent config --json` (docs/cli-json.md). */
export interface AgentConfigReport {
  apiVersion: typeof API_VERSION;
  kind: 'AgentConfig';
  /** The files read, lowest layer first. */
  files: string[];
  config: AgentConfig;
  /** The machine-id file `config.deviceId` was derived from (`deviceId: { fromMachineId: true }`); null when given. */
  deviceIdFrom: string | null;
  /** The kids of the trusted keys; null when the key file cannot be read. */
  trustedKids: string[] | null;
}

/**
 * `ota-agent config [--json]` (docs/agent.md, "Local CLI"): the merged configuration and the files it came
 * from, with the trusted keys' ids. The daemon's relay runs it once at start, so it learns its configuration
 * without loading a schema library. Reading it changes nothing.
 */
export function registerConfig(program: Command, io: AgentCliIo): void {
  program
    .command('config')
    .description('show the merged configuration, the files it came from and the trusted key ids')
    .option('--json', 'print it as one JSON document (docs/cli-json.md)')
    .action(async (opts: { json?: boolean }) => {
      const report = await configReport(program.opts<{ root: string }>().root);
      if (opts.json) return printJson(io.out, report);
      for (const line of configLines(report)) io.out(line);
    });
}

export async function configReport(root: string): Promise<AgentConfigReport> {
  const { config, files, deviceIdFrom } = await loadAgentConfig({ root });
  // A missing or broken key file is for the agent to report when it verifies; the configuration is still shown.
  const trustedKids = await loadTrustedKeys(config.trustedKeys).then((k) => [...k.byKid.keys()], () => null);
  return { apiVersion: API_VERSION, kind: 'AgentConfig', files, config, deviceIdFrom, trustedKids };
}

/** For a person: the files, the configuration as YAML, the trusted keys. */
export function configLines(r: AgentConfigReport): string[] {
  const files = r.files.length === 0 ? ['# no configuration file was found: built-in defaults only'] : r.files.map((f) => `# read ${f}`);
  const kids = r.trustedKids === null ? `# trusted keys: ${r.config.trustedKeys} cannot be read` : `# trusted key ids: ${r.trustedKids.join(', ') || 'none'}`;
  const id = r.deviceIdFrom === null ? [] : [`# deviceId derived from ${r.deviceIdFrom}`];
  return [...files, ...id, ...stringify(r.config).trimEnd().split('\n'), kids];
}
