import { Option, type Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import type { OtaEvent } from '../../../common/events.js';
import { formatBytes } from '../../../common/units.js';
import { build, type BuildResult } from '../../compose/build.js';
import { printJson } from '../../../common/cli-json.js';
import { catchInterrupts } from '../interrupt.js';
import type { CliIo } from '../io.js';

interface BuildOpts {
  repo: string;
  jobs: number;
  strict?: boolean;
  fallbackUri: string[];
  cacheDir?: string;
  cache?: string;
  offline?: boolean;
  quiet?: boolean;
  json?: boolean;
}

/** `ota build`: manifests or lockfiles -> deployable OSTree commits. */
export function registerBuild(program: Command, io: CliIo): void {
  const { out } = io;
  program
    .command('build')
    .description('build images (manifests are locked first) into deployable OSTree commits')
    .argument('<inputs...>', 'image manifests (image.yaml) or lockfiles (image.lock); several build in parallel and share their debs')
    .requiredOption('--repo <dir>', 'OSTree repository to build into (created if missing)')
    .option('-j, --jobs <n>', 'parallel downloads and imports', (v) => positiveInt(v, '--jobs'), 4)
    .option('--strict', 'fail on files that several packages ship without declaring Replaces')
    .option('--fallback-uri <uri>', 'another place to fetch locked debs from (a snapshot archive, a mirror); repeatable', (v, acc: string[]) => [...acc, v], [])
    .option('--cache-dir <dir>', 'download and index cache (default: $OTA_CACHE_DIR, else $XDG_CACHE_HOME/ota, else ~/.cache/ota)')
    // The option's first name, kept for scripts written before --cache-dir matched `ota lock`'s.
    .addOption(new Option('--cache <dir>').hideHelp())
    .option('--offline', 'use only cached archive indices when locking')
    .option('-q, --quiet', 'print only warnings and the summary')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md); progress stays on stderr')
    .action(async (inputs: string[], opts: BuildOpts) => {
      const reporter = io.reporter;
      const started = Date.now();
      const cacheDir = opts.cacheDir ?? opts.cache;
      const interrupt = catchInterrupts('ota build');
      const onEvent = (e: OtaEvent) => {
        interrupt.track(e);
        reporter.event(e);
      };
      let r: BuildResult;
      try {
        r = await build({ inputs, repoPath: opts.repo, jobs: opts.jobs, strict: opts.strict, fallbackUris: opts.fallbackUri, cacheDir, offline: opts.offline, onEvent, signal: interrupt.signal });
      } finally {
        interrupt.dispose();
        reporter.clear();
      }
      const seconds = (Date.now() - started) / 1000;
      if (opts.json) printJson(out, buildDocument(r, seconds));
      else printSummary(r, seconds, out);
    });
}

function buildDocument(r: BuildResult, seconds: number): unknown {
  return {
    images: r.images.map((i) => ({
      input: i.input, lockPath: i.lockPath, image: i.image, arch: i.arch, ref: i.ref, checksum: i.checksum,
      size: i.size, packages: i.packages, upToDate: i.noop, kernels: i.kernels,
      debs: i.debs, conflicts: i.conflicts, warnings: i.warnings, seconds: i.seconds,
    })),
    debs: { fetched: r.debs.downloaded, fetchedBytes: r.debs.downloadBytes, imported: r.debs.imported, reused: r.debs.reused },
    seconds,
  };
}

function printSummary(r: BuildResult, seconds: number, out: (line: string) => void): void {
  for (const i of r.images) {
    const phases = Object.entries(i.seconds).map(([k, v]) => `${k} ${v.toFixed(1)}s`).join(', ');
    out(`${i.ref} ${i.checksum}`);
    out(`  ${i.packages} packages, ${formatBytes(i.size)}${i.kernels.length ? `, kernel ${i.kernels.join(', ')}` : ''}${i.noop ? ', up to date' : ''}${phases ? ` (${phases})` : ''}`);
  }
  out(`built ${r.images.length} image${r.images.length > 1 ? 's' : ''} in ${seconds.toFixed(1)}s: debs ${r.debs.downloaded} fetched (${formatBytes(r.debs.downloadBytes)}), ${r.debs.imported} imported, ${r.debs.reused} reused`);
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new OtaError('ERR_OTA_USAGE', `${flag} takes a whole number of at least 1, not "${v}"`);
  return n;
}
