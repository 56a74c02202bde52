import type { Command } from 'commander';
import { EXIT } from '../../../common/errors.js';
import { skippedRelease, skipText } from '../../engine/record.js';
import type { AgentCliIo, RunState } from '../main.js';
import { driveVerb, printStatus, unixSeconds, verbConfig, verbLines, withAgent, type VerbContext } from '../verb.js';

/** rpm-ostree's answer to `upgrade --check` when there is nothing new; scripts test for it. */
export const EXIT_UP_TO_DATE = 77;

/**
 * `ota-agent upgrade [--check] [--download-only] [--json]` (docs/agent.md, "Local CLI"): applies a download
 * that waits, or checks the group's release and runs the update. `--check` fetches and preflights only and
 * changes nothing: exit 0 when an update is available, 77 when up to date (or the release is one the device
 * rolled back from), 1 when refused.
 */
export function registerUpgrade(program: Command, io: AgentCliIo, state: RunState): void {
  program
    .command('upgrade')
    .description("update to the group's release: check, download, deploy and reboot (or apply a download that waits)")
    .option('--check', 'only say whether an update is available (exit 0), up to date (77) or refused (1); changes nothing')
    .option('--download-only', 'stop after the download; `ota-agent upgrade` applies it later')
    .option('--json', "print the contract's status document afterwards (docs/cli-json.md)")
    .action(async (opts: { check?: boolean; downloadOnly?: boolean; json?: boolean }) => {
      const ctx: VerbContext = { program, io, state, json: opts.json === true };
      if (opts.check) return checkOnly(ctx);
      await driveVerb(ctx, async (agent, config) => {
        const record = await agent.store.load();
        if (record.state === 'downloaded') return opts.downloadOnly ? record : agent.machine.apply();
        const downloadOnly = opts.downloadOnly === true || config.policy.downloadOnly;
        return agent.machine.check({ id: `upgrade-${unixSeconds()}`, intent: 'upgrade', downloadOnly });
      });
    });
}

/** Fetch and preflight, as checking does, without the lock and without a write. */
async function checkOnly(ctx: VerbContext): Promise<void> {
  const config = await verbConfig(ctx.program);
  const show = verbLines(ctx);
  await withAgent(ctx, config, async (agent) => {
    const record = await agent.store.load();
    const releaseJws = await agent.steps.fetchRelease();
    const fromCommit = await agent.bootedCommit();
    const v = await agent.steps.preflight({ intent: 'upgrade', releaseJws, bundlePath: null, belowFloor: false, floor: record.floor, fromCommit, toCommit: null });
    // As checking decides: a release the device rolled back from is not offered again.
    const skipped = v.verdict === 'go' ? skippedRelease(record.skippedReleases, v.target.commit) : undefined;
    if (v.verdict === 'go' && skipped !== undefined) {
      show(`up to date: ${v.target.ref} ${skipText(skipped)}`);
      ctx.state.exitCode = EXIT_UP_TO_DATE;
    } else if (v.verdict === 'go') {
      show(`update available: ${v.target.ref} ${v.target.version ?? ''} (${v.target.commit.slice(0, 12)})`.replace('  ', ' '));
      ctx.state.exitCode = 0;
    } else if (v.verdict === 'upToDate') {
      show(`up to date: ${v.target.ref} ${v.target.version ?? v.target.commit.slice(0, 12)} is running`);
      ctx.state.exitCode = EXIT_UP_TO_DATE;
    } else {
      show(`refused: ${v.reason}`);
      ctx.state.exitCode = EXIT.failure;
    }
  });
  if (ctx.json) await printStatus(ctx, config);
}
