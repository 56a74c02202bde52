import { allCommands, type CommandSpec } from './command-tree.js';

/**
 * A program's section 1 page in roff (man(7) macros), generated from its command tree
 * (common/cli/command-tree.ts), so that the man page says what `--help` says: every command with
 * its usage, description, arguments and options, then what the program states about itself
 * (exit codes, files, environment). `ota man` and `ota-agent man` print theirs with it.
 *
 * @example
 * out(manPage(commandTree(program), { version: '0.1.0', date: '2026-01-01', facts: OTA_PAGE }));
 * // $ ota man > ota.1 && man -l ota.1
 */
export interface ManPageFacts {
  /** The program's name as typed: `ota`, `ota-agent`. */
  name: string;
  exitCodes: [string, string][];
  /** Configuration and state files; the section is left out when there are none. */
  files?: [string, string][];
  environment: [string, string][];
  /** Pages to see, as `ostree (1)`. */
  seeAlso: string[];
}

export interface ManPageOptions {
  version: string;
  /** YYYY-MM-DD for the page's footer; a fixed one keeps the output reproducible. */
  date: string;
  facts: ManPageFacts;
}

export function manPage(root: CommandSpec, options: ManPageOptions): string {
  const { name, exitCodes, files, environment, seeAlso } = options.facts;
  const lines = [
    `.TH ${esc(name.toUpperCase())} 1 "${options.date}" "${esc(name)} ${esc(options.version)}" "User Commands"`,
    '.SH NAME',
    `${esc(name)} \\- ${esc(root.description)}`,
    '.SH SYNOPSIS',
    ...allCommands(root)
      .filter((c) => c.subcommands.length === 0)
      .flatMap((c) => ['.br', `.B ${esc(name)} ${esc(c.path.join(' '))}`, esc(c.usage)]),
    '.SH DESCRIPTION',
    `${esc(root.description)}.`,
    esc('Each command prints its results on standard output and its progress, warnings and errors on standard error; with --json, standard output is one JSON document.'),
    '.SH OPTIONS',
    ...optionLines(root),
    '.SH COMMANDS',
    ...allCommands(root)
      .slice(1)
      .flatMap((c) => commandLines(name, c)),
    '.SH EXIT STATUS',
    ...definitions(exitCodes),
    ...(files === undefined || files.length === 0 ? [] : ['.SH FILES', ...definitions(files)]),
    '.SH ENVIRONMENT',
    ...definitions(environment),
    '.SH SEE ALSO',
    ...seeAlso.map((page, i) => `.BR ${page}${i < seeAlso.length - 1 ? ',' : ''}`),
  ];
  return `${lines.join('\n')}\n`;
}

function definitions(pairs: [string, string][]): string[] {
  return pairs.flatMap(([term, what]) => ['.TP', `.B ${esc(term)}`, esc(what)]);
}

function commandLines(name: string, c: CommandSpec): string[] {
  const lines = ['.SS', `.B ${esc(name)} ${esc(c.path.join(' '))}`, `.I ${esc(c.usage)}`, '.PP', `${esc(capital(c.description))}.`];
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
