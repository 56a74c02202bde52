import type { Command } from 'commander';
import { OtaError } from '../errors.js';
import { packageVersion } from '../package-version.js';
import { commandTree } from './command-tree.js';
import { bashCompletion, zshCompletion } from './completion.js';
import { manPage, type ManPageFacts } from './man-page.js';

/**
 * `<program> completion bash|zsh` and `<program> man`, the same for `ota` and `ota-agent`:
 * generated from the command tree as it is when they run, so every registered command,
 * subcommand and option is in them. `out` takes the whole text; each CLI prints it its own way.
 *
 * @example
 * registerCompletionCommands(program, { out: io.out, facts: OTA_PAGE });
 */
export interface CompletionCommandsOptions {
  out: (text: string) => void;
  /** What the man page says beyond the command tree, and the program's name. */
  facts: ManPageFacts;
}

export function registerCompletionCommands(program: Command, options: CompletionCommandsOptions): void {
  const { out, facts } = options;
  const name = facts.name;
  program
    .command('completion')
    .description(`print a shell completion script (bash: source <(${name} completion bash))`)
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      const tree = commandTree(program);
      if (shell === 'bash') out(bashCompletion(tree, name).replace(/\n$/, ''));
      else if (shell === 'zsh') out(zshCompletion(tree, name).replace(/\n$/, ''));
      else throw new OtaError('ERR_OTA_USAGE', `no completion for the shell "${shell}"`, { hint: 'give bash or zsh' });
    });
  program
    .command('man')
    .description(`print the manual page ${name}(1) in roff (${name} man > ${name}.1; man -l ${name}.1)`)
    .action(async () => {
      out(manPage(commandTree(program), { version: await packageVersion(), date: pageDate(), facts }).replace(/\n$/, ''));
    });
}

/** SOURCE_DATE_EPOCH, as reproducible builds set it, fixes the page's date; else today. */
function pageDate(): string {
  const epoch = Number(process.env.SOURCE_DATE_EPOCH);
  return (Number.isFinite(epoch) && process.env.SOURCE_DATE_EPOCH ? new Date(epoch * 1000) : new Date()).toISOString().slice(0, 10);
}
