/**
 * How a command line reads in messages: shell-quoted so that it can be pasted into a shell, and
 * short where it must fit a line. A stage-2 run passes a whole shell script as one argument;
 * an error's first line names the program and its first arguments, and the whole argv goes to
 * the error's details (common/exec.ts).
 *
 * @example
 * shortArgv(['sh', '-c', 'set -e\nmount ...', 'sh', '/root']); // "sh -c 'set -e…' sh …"
 */

const SAFE = /^[\w@%+=:,./-]+$/;

/** One argument as a shell reads it back: bare when safe, else in single quotes. */
export function shellQuote(arg: string): string {
  if (SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The whole argv, every argument in full (newlines included): what ran, to paste into a shell. */
export function fullArgv(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** Every argument, each on one line: a multi-line or long one is cut and marked with `…` (for -v). */
export function formatArgv(argv: readonly string[], maxArg = 60): string {
  return argv.map((a) => abbreviate(a, maxArg)).join(' ');
}

/** The program and its first `args` arguments, each abbreviated, then `…` if more follow (an error's first line). */
export function shortArgv(argv: readonly string[], args = 3, maxArg = 40): string {
  const shown = argv.slice(0, args + 1).map((a) => abbreviate(a, maxArg));
  return argv.length > args + 1 ? `${shown.join(' ')} …` : shown.join(' ');
}

function abbreviate(arg: string, max: number): string {
  const firstLine = arg.split('\n', 1)[0]!;
  if (firstLine === arg && arg.length <= max) return shellQuote(arg);
  return `${shellQuote(firstLine.slice(0, max))}…`;
}
