import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import { formatBytes } from '../../../common/units.js';
import { checkLock } from '../../lock/check.js';
import { explainPackage } from '../../lock/explain.js';
import { formatDiff } from '../../lock/lockfile.js';
import { defaultLockPath, lock } from '../../lock/lock.js';
import { printJson } from '../../../common/cli-json.js';
import type { CliIo } from '../io.js';

interface LockOpts {
  output?: string;
  update?: boolean;
  check?: boolean;
  explain?: string;
  offline?: boolean;
  cacheDir?: string;
  quiet?: boolean;
  json?: boolean;
}

type Out = (line: string) => void;

/** `ota lock`: manifest -> lockfile; `--update`, `--check`, `--explain PKG`. */
export function registerLock(program: Command, io: CliIo): void {
  const { out } = io;
  program
    .command('lock')
    .description('resolve an image manifest into a lockfile against its apt archives')
    .argument('<manifest>', 'image manifest (image.yaml)')
    .option('-o, --output <lock>', 'lockfile path (default: the manifest name with .lock)')
    .option('--update', 're-resolve from the newest indices and print what changed')
    .option('--check', 'exit non-zero (3) when the lockfile no longer satisfies the manifest; fetches nothing')
    .option('--explain <package>', 'print why a package is in the lockfile')
    .option('--offline', 'use only cached archive indices')
    .option('--cache-dir <dir>', 'archive index cache (default: $OTA_CACHE_DIR, else $XDG_CACHE_HOME/ota, else ~/.cache/ota)')
    .option('-q, --quiet', 'print only warnings and the summary')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md); progress stays on stderr')
    .action(async (manifestPath: string, opts: LockOpts) => {
      const modes = [opts.update, opts.check, opts.explain !== undefined].filter(Boolean).length;
      if (modes > 1) throw new OtaError('ERR_OTA_USAGE', '--update, --check and --explain are separate modes; give one');
      const lockPath = opts.output ?? defaultLockPath(manifestPath);
      if (opts.check) return check(manifestPath, lockPath, opts, out);
      if (opts.explain !== undefined) return explain(lockPath, opts.explain, opts, out);
      return lockOrUpdate(manifestPath, lockPath, opts, io);
    });
}

async function check(manifestPath: string, lockPath: string, opts: LockOpts, out: Out): Promise<void> {
  const problems = await checkLock({ manifestPath, lockPath });
  if (problems.length > 0) {
    // With --json, main() prints this error as the document: { error: { code: ERR_OTA_LOCK_STALE, details: problems } }.
    throw new OtaError('ERR_OTA_LOCK_STALE', `${lockPath} no longer satisfies ${manifestPath} (${problems.length} problem${problems.length > 1 ? 's' : ''})`, {
      details: problems,
      hint: `run \`ota lock --update ${manifestPath}\``,
    });
  }
  if (opts.json) printJson(out, { manifestPath, lockPath, satisfied: true });
  else out(`${lockPath} satisfies ${manifestPath}`);
}

async function explain(lockPath: string, name: string, opts: LockOpts, out: Out): Promise<void> {
  const e = await explainPackage(lockPath, name);
  if (opts.json) {
    printJson(out, { lockPath, ...e });
    return;
  }
  out(`${e.name} ${e.version} is in ${lockPath} because:`);
  const [first, ...rest] = e.chain;
  const rootWhy = { requested: 'requested by the manifest', essential: 'Essential: yes (variant minbase)', required: 'Priority: required (variant minbase)' }[e.root];
  out(`  ${first!.name} ${first!.version}: ${rootWhy}`);
  for (const step of rest) out(`  -> ${step.name} ${step.version}  (${step.via})`);
  if (e.dependents.length > 0) out(`needed directly by: ${e.dependents.join(', ')}`);
}

async function lockOrUpdate(manifestPath: string, lockPath: string, opts: LockOpts, io: CliIo): Promise<void> {
  const { out, reporter } = io;
  const started = Date.now();
  const r = await lock({ manifestPath, lockPath, update: opts.update, offline: opts.offline, cacheDir: opts.cacheDir, onEvent: reporter.event });
  reporter.clear();
  const seconds = (Date.now() - started) / 1000;
  const status = !r.written ? 'up-to-date' : r.diff ? 'updated' : 'written';
  if (opts.json) {
    const diff = r.written ? (r.diff ?? null) : null;
    printJson(out, { manifestPath, lockPath: r.lockPath, status, packages: r.packages, diff, downloadBytes: r.downloadBytes, seconds });
    return;
  }
  if (r.diff && r.written) for (const l of formatDiff(r.diff)) out(l);
  const what = status === 'up-to-date' ? 'up to date' : r.diff ? `updated (${r.diff.added.length} added, ${r.diff.removed.length} removed, ${r.diff.changed.length} changed)` : 'written';
  out(`${r.lockPath}: ${r.packages} packages, ${what}; fetched ${formatBytes(r.downloadBytes)} in ${seconds.toFixed(1)}s`);
}
