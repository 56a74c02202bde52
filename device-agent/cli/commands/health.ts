import type { Command } from 'commander';
import { EXIT } from '../../../common/errors.js';
import { loadAgentConfig } from '../../config/load.js';
import { healthSummary, type CheckResult, type HealthReport } from '../../health/report.js';
import { createHealthRunner } from '../../health/runner.js';
import { printJson } from '../../../common/cli-json.js';
import type { AgentCliIo, RunState } from '../main.js';

/**
 * `ota-agent health [--json]`: runs the health checks once, as the agent runs them after booting
 * an update (docs/agent.md, "Local CLI"), and changes nothing: no rollback, no mark. Each check
 * is shown as it ends, then the verdict. Exit code 1 when a required check
 * failed or the deadline passed, so a script can ask "would this deployment be kept?".
 */
export function registerHealth(program: Command, io: AgentCliIo, state: RunState): void {
  program
    .command('health')
    .description('run the health checks once (required and wanted) and show every result; changes nothing')
    .option('--json', 'print the health report (docs/cli-json.md)')
    .action(async (opts: { json?: boolean }) => {
      const { config } = await loadAgentConfig({ root: program.opts<{ root: string }>().root });
      // Each check is shown as it ends (a run may take minutes): on stdout, or on stderr with --json.
      const show = (r: CheckResult) => (opts.json ? io.err(`${checkLine(r)}\n`) : io.out(checkLine(r)));
      const report = await createHealthRunner(config.health, { diskPath: config.sysroot, onCheck: show }).run();
      if (opts.json) printJson(io.out, report);
      else io.out(verdictLine(report));
      if (!report.ok) state.exitCode = EXIT.failure;
    });
}

export function checkLine(r: CheckResult): string {
  return `${r.status.padEnd(8)} ${r.level.padEnd(8)} ${r.name}: ${r.detail}`;
}

/** The last line: healthy or not, with every check that did not pass (none at all is said too). */
export function verdictLine(report: HealthReport): string {
  const none = report.required.length + report.wanted.length === 0 ? ' (no checks are configured)' : '';
  return `${report.ok ? 'healthy' : 'unhealthy'}: ${healthSummary(report)}${none}`;
}
