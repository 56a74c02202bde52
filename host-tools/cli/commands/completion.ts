import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import { commandTree } from '../command-tree.js';
import { bashCompletion, zshCompletion } from '../completion.js';
import { manPage } from '../man-page.js';
import type { CliIo } from '../io.js';
import { packageVersion } from '../../../common/package-version.js';

/**
 * `ota completion bash|zsh` and `ota man`: generated from the command tree as it is when they
 * run, so every registered command, subcommand and option is in them.
 */
export function registerCompletion(program: Command, io: CliIo): void {
  program
    .command('completion')
    .description('print a shell completion script (bash: source <(ota completion bash))')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      const tree = commandTree(program);
      if (shell === 'bash') io.out(bashCompletion(tree).replace(/\n$/, ''));
      else if (shell === 'zsh') io.out(zshCompletion(tree).replace(/\n$/, ''));
      else throw new OtaError('ERR_OTA_USAGE', `no completion for the shell "${shell}"`, { hint: 'give bash or zsh' });
    });
  program
    .command('man')
    .description('print the manual page ota(1) in roff (ota man > ota.1; man -l ota.1)')
    .action(async () => {
      // SOURCE_DATE_EPOCH, as reproducible builds set it, fixes the page's date.
      const epoch = Number(process.env.SOURCE_DATE_EPOCH);
      const date = (Number.isFinite(epoch) && process.env.SOURCE_DATE_EPOCH ? new Date(epoch * 1000) : new Date()).toISOString().slice(0, 10);
      io.out(manPage(commandTree(program), { version: await packageVersion(), date }).replace(/\n$/, ''));
    });
}
