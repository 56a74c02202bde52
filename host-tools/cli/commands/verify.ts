import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import { verifyBundle, type BundleReport } from '../../verify/bundle.js';
import { verifyPublished, type PublishedReport } from '../../verify/published.js';
import { printJson } from '../../../common/cli-json.js';
import type { CliIo } from '../io.js';

/**
 * `ota verify PUBLISHED|FILE.otab [--key PUB]`: every check, every problem named; exit 1 when
 * there is any (docs/releases.md, "Verifying").
 *
 * @example
 * registerVerify(program, io);
 * // $ ota verify /srv/ota --key keys/
 * // /srv/ota: 2 refs, 5 commits, 3 deltas, 4 releases, 1 group: no problems (trusted key)
 */
export function registerVerify(program: Command, io: CliIo): void {
  program
    .command('verify')
    .description('check a published directory or a bundle: signatures, objects, deltas, manifests; names each problem')
    .argument('<target>', 'a published directory (ota publish --to) or a bundle file (ota bundle -o)')
    .option('--key <pub>', 'the trusted release.pub.jwks or its directory (default for a directory: its own keys.jwks, proving integrity, not trust)')
    .option('--repo <dir>', 'for a bundle made with --from: an OSTree repository holding that version, so the delta is applied as a test')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)')
    .action(async (target: string, opts: { key?: string; repo?: string; json?: boolean }) => {
      const isFile = statSync(target, { throwIfNoEntry: false })?.isFile() === true;
      const o = { ...opts, onEvent: io.reporter.event };
      const report = await (isFile ? verifyBundle(target, o) : verifyPublished(target, o)).finally(() => io.reporter.clear());
      if (report.problems.length > 0) {
        throw new OtaError('ERR_OTA_VERIFY', `${target}: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} found`, {
          details: report.problems,
          hint: 'each line names a file or object that does not check; publish or bundle again (docs/releases.md, "Verifying")',
        });
      }
      if (opts.json) printJson(io.out, report);
      else for (const l of report.kind === 'bundle' ? bundleLines(report) : publishedLines(report)) io.out(l);
    });
}

function publishedLines(r: PublishedReport): string[] {
  const commits = r.refs.reduce((n, x) => n + x.commits, 0);
  const lines = r.refs.map((x) => `ref ${x.ref}: ${x.head} (${x.commits} commit${x.commits === 1 ? '' : 's'}) signed, objects intact`);
  if (r.trust === 'published-keys') lines.push('checked against the directory\'s own keys.jwks: this proves integrity, not trust; give --key for trust');
  if (!r.gpgKeyring) lines.push('GPG signatures not checked: no release.gpg beside --key');
  lines.push(`${r.path}: ${r.refs.length} refs, ${commits} commits, ${r.deltas} deltas, ${r.releases} releases, ${r.groups} groups: no problems`);
  return lines;
}

function bundleLines(r: BundleReport): string[] {
  const from = r.from ? `from ${r.from.version}` : 'whole commit';
  const applied = r.applied ? 'applied offline into a temporary repository: commit signed, objects intact' : `not applied: ${r.notApplied}`;
  return [`${r.path}: ${r.ref} ${r.version} (${r.commit}), ${from}, ${r.parts} delta parts; manifest verified; ${applied}`];
}
