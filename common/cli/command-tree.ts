import type { Command } from 'commander';

/**
 * A command tree (`ota`'s, `ota-agent`'s) as plain data, read from commander's own definitions:
 * what the shell completion scripts and the man page are generated from, so neither can drift
 * from `--help`.
 *
 * @example
 * const tree = commandTree(program);
 * tree.subcommands.map((c) => c.name); // ['lock', 'import', 'build', ...]
 */
export interface OptionSpec {
  /** As written in help: `-o, --output <lock>`. */
  flags: string;
  long: string | undefined;
  short: string | undefined;
  /** The option takes a value (`<x>` or `[x]`). */
  takesValue: boolean;
  description: string;
}

export interface ArgumentSpec {
  name: string;
  required: boolean;
  variadic: boolean;
  description: string;
}

export interface CommandSpec {
  name: string;
  /** Names from the top: `['import', 'multistrap']`; empty for the program itself. */
  path: string[];
  description: string;
  /** commander's usage line without the name: `[options] <manifest>`. */
  usage: string;
  options: OptionSpec[];
  arguments: ArgumentSpec[];
  subcommands: CommandSpec[];
}

const HELP: OptionSpec = { flags: '-h, --help', long: '--help', short: '-h', takesValue: false, description: 'display help for command' };

export function commandTree(cmd: Command, path: string[] = []): CommandSpec {
  const options: OptionSpec[] = cmd.options
    .filter((o) => !o.hidden)
    .map((o) => ({ flags: o.flags, long: o.long, short: o.short, takesValue: o.required || o.optional, description: o.description }));
  return {
    name: cmd.name(),
    path,
    description: cmd.description(),
    usage: cmd.usage(),
    options: [...options, HELP],
    arguments: cmd.registeredArguments.map((a) => ({ name: a.name(), required: a.required, variadic: a.variadic, description: a.description })),
    // A hidden command (`ota-agent worker`, run by the daemon, not by people) stays out of --help, so out of these too.
    subcommands: cmd.commands.filter((c) => !isHidden(c)).map((c) => commandTree(c, [...path, c.name()])),
  };
}

/** commander keeps `{ hidden: true }` in a field it does not type. */
function isHidden(cmd: Command): boolean {
  return (cmd as unknown as { _hidden?: boolean })._hidden === true;
}

/** Every command of the tree, the root first, parents before their children. */
export function allCommands(root: CommandSpec): CommandSpec[] {
  return [root, ...root.subcommands.flatMap(allCommands)];
}
