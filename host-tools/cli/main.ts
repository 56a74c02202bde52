import { Command } from 'commander';
import { asksVersion, failureExitCode } from '../../common/cli/outcome.js';
import { withTrace } from '../../common/events.js';
import { registerAnnounce } from './commands/announce.js';
import { registerBuild } from './commands/build.js';
import { registerBundle } from './commands/bundle.js';
import { registerCompletion } from './commands/completion.js';
import { registerDiff } from './commands/diff.js';
import { registerFlash } from './commands/flash.js';
import { registerFleet } from './commands/fleet.js';
import { registerFleetAcl } from './commands/fleet-acl.js';
import { registerImage } from './commands/image.js';
import { registerImport } from './commands/import.js';
import { registerKeys } from './commands/keys.js';
import { registerLock } from './commands/lock.js';
import { registerServe } from './commands/serve.js';
import { registerPublish } from './commands/publish.js';
import { registerLog } from './commands/log.js';
import { registerVerify } from './commands/verify.js';
import { printJson } from '../../common/cli-json.js';
import { packageVersion } from '../../common/package-version.js';
import { versionLines, versionReport } from './version.js';
import type { CliIo } from './io.js';
import { Reporter, type TextSink } from './reporter.js';

/**
 * The `ota` entry point: builds the command tree, runs it, and is the one place that prints an
 * error and chooses the exit code (docs/conventions.md, "Errors"). Result lines go to `out`;
 * everything else (commander's usage messages, progress, warnings, -v traces, the error) to
 * `err`, so a test sees all of it without touching the process's streams.
 *
 * @example
 * process.exitCode = await main(process.argv);
 */
export async function main(argv: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`), err: TextSink = process.stderr): Promise<number> {
  if (asksVersion(argv)) return printVersion(out, argv.includes('--json'));
  const reporter = new Reporter(err);
  const io: CliIo = { out, err, reporter };
  const program = new Command('ota')
    .description('Debian/Ubuntu images as OSTree commits from lockfiles, and atomic over-the-air updates')
    .version(await packageVersion(), '-V, --version', 'print the version of ota and of libostree with its features')
    .option('-v, --verbose', 'show each subprocess (program and arguments) and HTTP request on stderr')
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => err.write(s), writeOut: (s) => out(s.replace(/\n$/, '')) });
  // A command's own --version (`ota publish --version 1.2.0`) is that command's: commander would
  // give it to the root's version flag wherever it stands, and `ota --version` alone is answered
  // by asksVersion before this tree is built.
  const versionOption = program.options.find((o) => o.long === '--version');
  if (versionOption && argv.slice(2).some((a) => !a.startsWith('-'))) (versionOption as unknown as { is(arg: string): boolean }).is = (arg) => arg === versionOption.short;
  program.hook('preAction', (_program, command) => {
    reporter.configure({ quiet: command.opts<{ quiet?: boolean }>().quiet === true, verbose: program.opts<{ verbose?: boolean }>().verbose === true });
  });
  for (const register of [registerLock, registerImport, registerBuild, registerDiff, registerImage, registerFlash, registerKeys, registerPublish, registerLog, registerServe, registerAnnounce, registerFleet, registerFleetAcl, registerVerify, registerBundle, registerCompletion]) register(program, io);
  try {
    // Subprocesses and HTTP requests report to this run's reporter, which shows them with -v.
    await withTrace(reporter.event, () => program.parseAsync(argv));
    return 0;
  } catch (e) {
    return failureExitCode(e, { argv, out, printError: (m) => reporter.line(m) });
  }
}

async function printVersion(out: (line: string) => void, json: boolean): Promise<number> {
  const r = await versionReport();
  if (json) printJson(out, r);
  else for (const l of versionLines(r)) out(l);
  return 0;
}
