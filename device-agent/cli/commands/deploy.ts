import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import { LIMITS, versionProblem } from '../../../contract/index.js';
import type { Agent } from '../../agent/open.js';
import type { AgentCliIo, RunState } from '../main.js';
import { driveVerb, updateId } from '../verb.js';

/**
 * `ota-agent deploy VERSION [--json]` (docs/agent.md, "Local CLI"): a named version of the running
 * deployment's ref, from the remote's `releases/<ref>/<VERSION>.jws`; a downgrade is allowed, never below the
 * floor.
 */
export function registerDeploy(program: Command, io: AgentCliIo, state: RunState): void {
  program
    .command('deploy')
    .description("update (or go back) to VERSION of the running deployment's ref; never below the floor")
    .argument('<version>', 'the release version, as `ota publish --version` named it')
    .option('--json', "print the contract's status document afterwards (docs/cli-json.md)")
    .action(async (version: string, opts: { json?: boolean }) => {
      const problem = deployVersionProblem(version);
      if (problem !== null) throw new OtaError('ERR_OTA_USAGE', `deploy: argument VERSION ${JSON.stringify(version)} ${problem}`, { hint: 'a Debian version such as 1.2 or 2.0~rc1, as `ota publish --version` named it' });
      await driveVerb({ program, io, state, json: opts.json === true }, async (agent) => {
        const releaseJws = await agent.steps.fetchVersion(await runningRef(agent), version);
        return agent.machine.check({ id: updateId('deploy', version), intent: 'deploy', releaseJws });
      });
    });
}

/**
 * Why VERSION cannot be a release's version (the contract's rules: a Debian version, at most
 * LIMITS.versionChars characters, no surrounding blanks), or null. Checked before anything is read or
 * written, so a bad argument is a usage error, not a failure half-way.
 */
export function deployVersionProblem(version: string): string | null {
  if (version.length > LIMITS.versionChars) return `is longer than ${LIMITS.versionChars} characters (${version.length})`;
  if (version.trim() !== version) return 'has surrounding blanks';
  const problem = versionProblem(version);
  return problem === undefined ? null : `is not a Debian version: ${problem}`;
}

/** The ref the running deployment was deployed from: its origin's refspec, without a remote name. */
export async function runningRef(agent: Agent): Promise<string> {
  const booted = await agent.bootedCommit();
  await agent.sysroot.load();
  const d = agent.sysroot.deployments().find((x) => x.checksum === booted);
  if (d === undefined) {
    throw new OtaError('ERR_OTA_STATE', 'cannot tell which deployment runs, so not which ref to deploy from', {
      hint: 'on a device, run it on the booted system; elsewhere kernelCommandLine must name a deployment (docs/agent.md, "Configuration")',
    });
  }
  const refspec = /^refspec=(.+)$/m.exec(d.origin)?.[1]?.trim();
  if (refspec === undefined) {
    throw new OtaError('ERR_OTA_OSTREE', `the running deployment ${d.checksum.slice(0, 12)} has no origin refspec`, { hint: 'it was not deployed by ota-agent or an image build; use `ota-agent install` with a bundle' });
  }
  return refspec.replace(/^[^:/]+:/, '');
}
