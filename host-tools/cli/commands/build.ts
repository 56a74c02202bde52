import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import { build } from '../../compose/build.js';
import { formatBytes } from '../../../common/units.js';
import { Reporter } from '../reporter.js';

/** `ota build`: manifests or lockfiles -> deployable OSTree commits. */
export function registerBuild(program: Command, out: (line: string) => void): void {
  program
    .command('build')
    .description('build images (manifests are locked first) into deployable OSTree commits')
    .argument('<inputs...>', 'image manifests (image.yaml) or lockfiles (image.lock); several build in parallel and share their debs')
    .requiredOption('--repo <dir>', 'OSTree repository to build into (created if missing)')
    .option('-j, --jobs <n>', 'parallel downloads and imports', (v) => positiveInt(v, '--jobs'), 4)
    .option('--strict', 'fail on files that several packages ship without declaring Replaces')
    .option('--fallback-uri <uri>', 'another place to fetch locked debs from (a snapshot archive, a mirror); repeatable', (v, acc: string[]) => [...acc, v], [])
    .option('--cache <dir>', 'download and index cache (default ~/.cache/ota)')
    .option('--offline', 'use only cached archive indices when locking')
    .option('-q, --quiet', 'print only warnings and the summary')
    .action(async (inputs: string[], opts: { repo: string; jobs: number; strict?: boolean; fallbackUri: string[]; cache?: string; offline?: boolean; quiet?: boolean }) => {
      const reporter = new Reporter(process.stderr, opts.quiet);
      const started = Date.now();
      const r = await build({ inputs, repoPath: opts.repo, jobs: opts.jobs, strict: opts.strict, fallbackUris: opts.fallbackUri, cacheDir: opts.cache, offline: opts.offline, onEvent: reporter.event });
      reporter.clear();
      for (const i of r.images) {
        const phases = Object.entries(i.seconds).map(([k, v]) => `${k} ${v.toFixed(1)}s`).join(', ');
        out(`${i.ref} ${i.checksum}`);
        out(`  ${i.packages} packages, ${formatBytes(i.size)}${i.kernels.length ? `, kernel ${i.kernels.join(', ')}` : ''}${i.noop ? ', up to date' : ''}${phases ? ` (${phases})` : ''}`);
      }
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      out(`built ${r.images.length} image${r.images.length > 1 ? 's' : ''} in ${secs}s: debs ${r.debs.downloaded} fetched (${formatBytes(r.debs.downloadBytes)}), ${r.debs.imported} imported, ${r.debs.reused} reused`);
    });
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new OtaError('ERR_OTA_USAGE', `${flag} takes a whole number of at least 1, not "${v}"`);
  return n;
}
