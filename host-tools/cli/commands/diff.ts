import type { Command } from 'commander';
import { Repo } from '../../../node-ostree/index.js';
import { diffImages } from '../../compose/diff.js';
import { formatDiff } from '../../lock/lockfile.js';
import { requireRepo } from '../input-repo.js';
import { printJson } from '../../../common/cli-json.js';
import type { CliIo } from '../io.js';

/** `ota diff A B`: packages, then files, between two built commits. */
export function registerDiff(program: Command, io: CliIo): void {
  const { out } = io;
  program
    .command('diff')
    .description('compare two built images: packages added, removed and upgraded, then files')
    .argument('<from>', 'ref or commit checksum')
    .argument('<to>', 'ref or commit checksum')
    .requiredOption('--repo <dir>', 'the OSTree repository holding both')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)')
    .action(async (from: string, to: string, opts: { repo: string; json?: boolean }) => {
      await requireRepo(opts.repo);
      const repo = await Repo.open(opts.repo);
      try {
        const d = await diffImages(repo, from, to);
        if (opts.json) {
          printJson(out, d);
          return;
        }
        const p = d.packages;
        out(`packages: ${p.added.length} added, ${p.removed.length} removed, ${p.changed.length} changed`);
        for (const l of formatDiff(p)) out(`  ${l}`);
        const f = d.files;
        out(`files: ${f.added.length} added, ${f.removed.length} removed, ${f.modified.length} changed`);
        for (const x of f.added) out(`  A ${x}`);
        for (const x of f.removed) out(`  D ${x}`);
        for (const x of f.modified) out(`  M ${x}`);
      } finally {
        repo.close();
      }
    });
}
