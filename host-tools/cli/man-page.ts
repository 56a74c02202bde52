import { allCommands, type CommandSpec } from './command-tree.js';

/**
 * ota(1) in roff (man(7) macros), generated from the command tree (host-tools/cli/command-tree.ts),
 * so that the man page says what `--help` says: every command with its usage, description,
 * arguments and options, then the exit codes and the environment.
 *
 * @example
 * out(manPage(commandTree(program), { version: '0.1.0', date: '2026-01-01' }));
 * // $ ota man > ota.1 && man -l ota.1
 */
export interface ManPageOptions {
  version: string;
  /** YYYY-MM-DD for the page's footer; a fixed one keeps the output reproducible. */
  date: string;
}

const EXIT_CODES: [string, string][] = [
  ['0', 'success'],
  ['1', 'the work failed (a download, a signature, a build step)'],
  ['2', 'bad usage or input: an unknown option, a missing file, malformed YAML, an unknown package'],
  ['3', '`ota lock --check`: the lockfile no longer satisfies the manifest'],
];

const ENVIRONMENT: [string, string][] = [
  ['OTA_CACHE_DIR', 'the download and index cache of `ota lock` and `ota build` (else $XDG_CACHE_HOME/ota, else ~/.cache/ota); --cache-dir wins over it'],
  ['XDG_CACHE_HOME', 'the cache is $XDG_CACHE_HOME/ota when OTA_CACHE_DIR is not set'],
  ['http_proxy, https_proxy, no_proxy', 'proxies for archive and deb downloads, as apt uses them'],
  ['CI', 'when set, progress is printed as plain lines, never redrawn in place'],
];

export function manPage(root: CommandSpec, options: ManPageOptions): string {
  const lines = [
    `.TH OTA 1 "${options.date}" "ota ${esc(options.version)}" "User Commands"`,
    '.SH NAME',
    `ota \\- ${esc(root.description)}`,
    '.SH SYNOPSIS',
    ...allCommands(root)
      .filter((c) => c.subcommands.length === 0)
      .flatMap((c) => ['.br', `.B ota ${esc(c.path.join(' '))}`, esc(c.usage)]),
    '.SH DESCRIPTION',
    `${esc(root.description)}.`,
    esc('Each command prints its results on standard output and its progress, warnings and errors on standard error; with --json, standard output is one JSON document.'),
    '.SH OPTIONS',
    ...optionLines(root),
    '.SH COMMANDS',
    ...allCommands(root).slice(1).flatMap(commandLines),
    '.SH EXIT STATUS',
    ...EXIT_CODES.flatMap(([code, what]) => ['.TP', `.B ${code}`, esc(what)]),
    '.SH ENVIRONMENT',
    ...ENVIRONMENT.flatMap(([name, what]) => ['.TP', `.B ${esc(name)}`, esc(what)]),
    '.SH SEE ALSO',
    '.BR ostree (1),',
    '.BR apt (8),',
    '.BR multistrap (1)',
  ];
  return `${lines.join('\n')}\n`;
}

function commandLines(c: CommandSpec): string[] {
  const lines = ['.SS', `.B ota ${esc(c.path.join(' '))}`, `.I ${esc(c.usage)}`, '.PP', `${esc(capital(c.description))}.`];
  if (c.subcommands.length > 0) lines.push('.PP', `Subcommands: ${c.subcommands.map((s) => esc(s.name)).join(', ')}.`);
  for (const a of c.arguments) {
    lines.push('.TP', `.I ${esc(a.name)}${a.variadic ? '...' : ''}`, esc(a.description || (a.required ? 'required' : 'optional')));
  }
  return [...lines, ...optionLines(c)];
}

function optionLines(c: CommandSpec): string[] {
  return c.options.flatMap((o) => ['.TP', `.B ${esc(o.flags)}`, esc(o.description)]);
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Text for roff: backslashes and hyphens escaped, and no line may start with `.` or `'` (a request). */
export function esc(s: string): string {
  const t = s.replace(/\\/g, '\\e').replace(/-/g, '\\-');
  return /^[.']/.test(t) ? `\\&${t}` : t;
}
