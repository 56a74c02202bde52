import type { Command } from 'commander';
import type { ManPageFacts } from '../../../common/cli/man-page.js';
import { registerCompletionCommands } from '../../../common/cli/register.js';
import type { AgentCliIo } from '../main.js';
import { EXIT_UP_TO_DATE } from './upgrade.js';

/** What ota-agent(1) says beyond its command tree (docs/agent.md, "Local CLI" and "Configuration"). */
export const OTA_AGENT_PAGE: ManPageFacts = {
  name: 'ota-agent',
  exitCodes: [
    ['0', 'success: the update committed, is downloaded or awaits its reboot; the checks passed'],
    ['1', 'the work failed: an update refused, failed or rolled back, a required health check failed, another run holds the lock'],
    ['2', 'bad usage or configuration: an unknown option, an unknown or missing key in agent.yaml'],
    [String(EXIT_UP_TO_DATE), '`ota-agent upgrade --check`: the device is up to date'],
  ],
  files: [
    ['/usr/lib/ota/agent.yaml', 'the configuration the image ships (board, arch, remote, bootloader)'],
    ['/etc/ota/agent.yaml', "this device's configuration (its id, its group), over the image's"],
    ['/etc/ota/agent.d/*.yaml', 'drop-ins, in name order, over both'],
    ['/etc/ota/release.pub.jwks', 'the release keys the device trusts (trustedKeys)'],
    ['/etc/ota/health/required.d, /etc/ota/health/wanted.d', "health check scripts (greenboot's /etc/greenboot/check too)"],
    ['/var/lib/ota/state.json', "the update's state record (stateDir), with agent.lock, progress.json and download/ beside it"],
  ],
  environment: [['http_proxy, https_proxy, no_proxy', 'proxies for the release and object downloads, as curl uses them']],
  seeAlso: ['ota (1)', 'ostree (1)'],
};

/** `ota-agent completion bash|zsh` and `ota-agent man` (common/cli/register.ts). */
export function registerCompletion(program: Command, io: AgentCliIo): void {
  registerCompletionCommands(program, { out: io.out, facts: OTA_AGENT_PAGE });
}
