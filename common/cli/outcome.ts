import { CommanderError } from 'commander';
import { errorDocument, printJson, wantsJson } from '../cli-json.js';
import { EXIT, formatError, OtaError } from '../errors.js';

/**
 * How a run of `ota` or `ota-agent` ends, the same for both (docs/conventions.md, "Errors"):
 * the one place that prints an error and picks the exit code.
 *
 * @example
 * try { await program.parseAsync(argv); return 0; }
 * catch (e) { return failureExitCode(e, { argv, out, printError: (m) => reporter.line(m) }); }
 */
export interface FailureOutput {
  argv: string[];
  /** Result lines (stdout): the error document with `--json`. */
  out: (line: string) => void;
  /** The error for a person, one message (stderr). */
  printError: (message: string) => void;
}

/**
 * The exit code of a run that threw: 0 for commander's own help or version exit, 2 for bad usage
 * (commander has already printed its message), else the OtaError's code or 1. With `--json` the
 * error document goes to stdout as well.
 */
export function failureExitCode(e: unknown, output: FailureOutput): number {
  const json = wantsJson(output.argv);
  if (e instanceof CommanderError) {
    if (e.exitCode === 0) return 0;
    if (json) printJson(output.out, errorDocument(new OtaError('ERR_OTA_USAGE', e.message.replace(/^error: /, '')), EXIT.usage));
    return EXIT.usage;
  }
  output.printError(formatError(e));
  const code = e instanceof OtaError ? e.exitCode : EXIT.failure;
  if (json) printJson(output.out, errorDocument(e, code));
  return code;
}

/** `--version` (or `-V`), alone or with `--json`: answered before the command tree is built. */
export function asksVersion(argv: string[]): boolean {
  const args = argv.slice(2);
  return args.some((a) => a === '-V' || a === '--version') && args.every((a) => a === '-V' || a === '--version' || a === '--json');
}
