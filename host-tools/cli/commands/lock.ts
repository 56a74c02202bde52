import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import { checkLock } from '../../lock/check.js';
import { explainPackage } from '../../lock/explain.js';
import { formatDiff } from '../../lock/lockfile.js';
import { defaultLockPath, lock } from '../../lock/lock.js';
import { formatBytes } from '../../../common/units.js';
import { Reporter } from '../reporter.js';

/** `ota lock`: manifest -> lockfile; `--update`, `--check`, `--explain PKG`. */
export function registerLock(program: Command, out: (line: string) => void): void {
  program
    .command('lock')
    .description('resolve an image manifest into a lockfile against its apt archives')
    .argument('<manifest>', 'image manifest (image.yaml)')
    .option('-o, --output <lock>', 'lockfile path (default: the manifest name with .lock)')
    .option('--update', 're-resolve from the newest indices and print what changed')
    .option('--check', 'exit non-zero (3) when the lockfile no longer satisfies the manifest; fetches nothing')
    .option('--explain <package>', 'print why a package is in the lockfile')
    .option('--offline', 'use only cached archive indices')
    .option('-q, --quiet', 'print only warnings and the summary')
    .action(async (manifestPath: string, opts: { output?: string; update?: boolean; check?: boolean; explain?: string; offline?: boolean; quiet?: boolean }) => {
      const modes = [opts.update, opts.check, opts.explain !== undefined].filter(Boolean).length;
      if (modes > 1) throw new OtaError('ERR_OTA_USAGE', '--update, --check and --explain are separate modes; give one');
      const lockPath = opts.output ?? defaultLockPath(manifestPath);
      if (opts.check) {
        const problems = await checkLock({ manifestPath, lockPath });
        if (problems.length > 0) {
          throw new OtaError('ERR_OTA_LOCK_STALE', `${lockPath} no longer satisfies ${manifestPath} (${problems.length} problem${problems.length > 1 ? 's' : ''})`, {
            details: problems,
            hint: `run \`ota lock --update ${manifestPath}\``,
          });
        }
        out(`${lockPath} satisfies ${manifestPath}`);
        return;
      }
      if (opts.explain !== undefined) {
        const e = await explainPackage(lockPath, opts.explain);
        out(`${e.name} ${e.version} is in ${lockPath} because:`);
        const [first, ...rest] = e.chain;
        const rootWhy = { requested: 'requested by the manifest', essential: 'Essential: yes (variant minbase)', required: 'Priority: required (variant minbase)' }[e.root];
        out(`  ${first!.name} ${first!.version}: ${rootWhy}`);
        for (const step of rest) out(`  -> ${step.name} ${step.version}  (${step.via})`);
        if (e.dependents.length > 0) out(`needed directly by: ${e.dependents.join(', ')}`);
        return;
      }
      const reporter = new Reporter(process.stderr, opts.quiet);
      const started = Date.now();
      const r = await lock({ manifestPath, lockPath, update: opts.update, offline: opts.offline, onEvent: reporter.event });
      reporter.clear();
      if (r.diff && r.written) {
        const lines = formatDiff(r.diff);
        for (const l of lines) out(l);
      }
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const what = !r.written ? 'up to date' : r.diff ? `updated (${r.diff.added.length} added, ${r.diff.removed.length} removed, ${r.diff.changed.length} changed)` : 'written';
      out(`${r.lockPath}: ${r.packages} packages, ${what}; fetched ${formatBytes(r.downloadBytes)} in ${secs}s`);
    });
}
