import { Command } from 'commander';
import { asksVersion, failureExitCode } from '../../common/cli/outcome.js';
import { registerCompletion } from './commands/completion.js';
import { registerConfig } from './commands/config.js';
import { registerDaemon } from './commands/daemon.js';
import { registerDeploy } from './commands/deploy.js';
import { registerHealth } from './commands/health.js';
import { registerInstall } from './commands/install.js';
import { registerRollback } from './commands/rollback.js';
import { registerUpgrade } from './commands/upgrade.js';
import { registerWorker } from './commands/worker.js';
import { registerStatus } from './commands/status.js';
import { printJson } from '../../common/cli-json.js';
import { packageVersion } from '../../common/package-version.js';
import { agentVersionLines, agentVersionReport } from './version.js';

/**
 * The `ota-agent` entry point (docs/agent.md, "Local CLI"): builds the command tree, runs it, and
 * is the one place that prints an error and picks the exit code (docs/conventions.md, "Errors").
 * Results go to `out`; usage messages and errors to `err`, so a test sees both without touching
 * the process's streams.
 *
 * @example
 * process.exitCode = await main(process.argv);
 */
export interface AgentCliIo {
  out: (line: string) => void;
  err: (text: string) => void;
  /** The clock status documents are stamped with. */
  now: () => Date;
}

/** What a command may set for the run beyond its output: an exit code for a result that is not an error (an unhealthy check run). */
export interface RunState {
  exitCode: number;
}

const defaultIo: AgentCliIo = { out: (l) => process.stdout.write(`${l}\n`), err: (t) => process.stderr.write(t), now: () => new Date() };

export async function main(argv: string[], io: AgentCliIo = defaultIo): Promise<number> {
  if (asksVersion(argv)) return printVersion(io.out, argv.includes('--json'));
  const program = new Command('ota-agent')
    .description('the device half of deb-ota: atomic OSTree updates with boot counting, health checks and rollback')
    .version(await packageVersion(), '-V, --version', 'print the version of ota-agent, libostree and Node')
    .option('--root <dir>', 'read the configuration under DIR instead of / (usr/lib/ota, etc/ota)', '/')
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => io.err(s), writeOut: (s) => io.out(s.replace(/\n$/, '')) });
  const state: RunState = { exitCode: 0 };
  registerStatus(program, io);
  registerHealth(program, io, state);
  registerUpgrade(program, io, state);
  registerRollback(program, io, state);
  registerDeploy(program, io, state);
  registerInstall(program, io, state);
  registerDaemon(program, io);
  registerConfig(program, io);
  registerWorker(program, io);
  // Last: completion and man read the whole tree when they run, so their place is only their place in --help.
  registerCompletion(program, io);
  try {
    await program.parseAsync(argv);
    return state.exitCode;
  } catch (e) {
    return failureExitCode(e, { argv, out: io.out, printError: (m) => io.err(`${m}\n`) });
  }
}

async function printVersion(out: (line: string) => void, json: boolean): Promise<number> {
  const r = await agentVersionReport();
  if (json) printJson(out, r);
  else for (const l of agentVersionLines(r)) out(l);
  return 0;
}
