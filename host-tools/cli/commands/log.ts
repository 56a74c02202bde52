import type { Command } from 'commander';
import { formatLogEntry, releaseLog } from '../../publish/log.js';
import { printJson } from '../../../common/cli-json.js';
import type { CliIo } from '../io.js';

/** `ota log REF`: a ref's published versions, newest first (docs/releases.md, "Publishing"). */
export function registerLog(program: Command, io: CliIo): void {
  const { out } = io;
  program
    .command('log')
    .description("list a ref's published versions, newest first: date, commit, subject and package changes")
    .argument('<ref>', 'the published ref, e.g. gateway/arm64')
    .option('--to <dir>', 'the published directory', '.')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)')
    .action(async (ref: string, opts: { to: string; json?: boolean }) => {
      const entries = await releaseLog({ to: opts.to, ref });
      if (opts.json) {
        printJson(out, { ref, versions: entries });
        return;
      }
      for (const e of entries) for (const l of formatLogEntry(e)) out(l);
    });
}
