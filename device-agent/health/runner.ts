import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runCheck, type CheckContext, type CheckOutcome } from './checks.js';
import { planChecks, scriptFolders, type CheckSpec, type DirEntry, type Listing } from './plan.js';
import { summarize, type CheckResult, type HealthReport } from './report.js';
import type { HealthConfig } from '../config/schema.js';

/**
 * The health runner the agent calls after an update boots (docs/agent.md, "Health checks"):
 * every planned check runs, a few at a time, each bounded by its timeout; at the overall
 * deadline whatever still runs is killed, whatever has not started is reported as not run, and
 * the run returns. A hung check cannot hold the rollback back.
 *
 * @example
 * const health = createHealthRunner(config.health, { diskPath: config.sysroot });
 * const report = await health.run();
 * if (!report.ok) await rollBack(report);
 */
export interface HealthRunner {
  run(): Promise<HealthReport>;
}

export interface HealthRunnerOptions {
  /** The filesystem whose free space is checked: the sysroot's (default `/`). */
  diskPath?: string;
  /** Between SIGTERM and SIGKILL for a check past its timeout (default 5 s: time to clean up, not to keep working). */
  killGraceMs?: number;
  /** How many checks run at once (default 4): cheap checks do not queue behind a slow script. */
  parallelChecks?: number;
  /** The environment of scripts and systemctl (default: the agent's own; tests put a stand-in systemctl on PATH). */
  env?: NodeJS.ProcessEnv;
  /** Where MemAvailable is read (default /proc/meminfo). */
  meminfoPath?: string;
  /** Called as each check ends, in the order they end: for events while the run goes on. */
  onCheck?: (result: CheckResult) => void;
}

export function createHealthRunner(config: HealthConfig, options: HealthRunnerOptions = {}): HealthRunner {
  return { run: () => runHealth(config, options) };
}

async function runHealth(config: HealthConfig, options: HealthRunnerOptions): Promise<HealthReport> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), config.deadlineSeconds * 1000);
  const deadlinePassed = new Promise<'deadline'>((resolve) => deadline.signal.addEventListener('abort', () => resolve('deadline'), { once: true }));
  try {
    const listings = await Promise.race([listFolders(config), deadlinePassed]);
    if (listings === 'deadline') return summarize([], true);
    const plan = planChecks(config, listings, options.diskPath ?? '/');
    const ctx: CheckContext = {
      timeoutMs: config.checkTimeoutSeconds * 1000,
      graceMs: options.killGraceMs ?? 5_000,
      deadline: deadline.signal,
      env: options.env,
      meminfoPath: options.meminfoPath,
    };
    // Whether the deadline passed while checks ran; read when each ends, so that a timer firing
    // after the last check ended does not turn a finished run into a failed one.
    let deadlineHit = false;
    const one = async (spec: CheckSpec): Promise<CheckResult> => {
      const base = { name: spec.name, kind: spec.kind, level: spec.level };
      if (deadline.signal.aborted) {
        deadlineHit = true;
        return { ...base, status: 'notRun', detail: 'the health deadline passed before it ran', durationMs: 0 };
      }
      const t0 = performance.now();
      const atDeadline: CheckOutcome = { status: 'timedOut', detail: 'still running at the health deadline' };
      const outcome = await Promise.race([runCheck(spec, ctx), deadlinePassed.then(() => atDeadline)]);
      if (deadline.signal.aborted) deadlineHit = true;
      return { ...base, ...outcome, durationMs: Math.round(performance.now() - t0) };
    };
    const results = await inParallel(plan, options.parallelChecks ?? 4, async (spec) => {
      const r = await one(spec);
      options.onCheck?.(r);
      return r;
    });
    return summarize(results, deadlineHit);
  } finally {
    clearTimeout(timer);
  }
}

/** `fn` over `items`, at most `limit` at once; results in the items' order. */
async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

async function listFolders(config: HealthConfig): Promise<Map<string, Listing>> {
  const folders = scriptFolders(config);
  const listings = await Promise.all(folders.map((f) => listFolder(f.dir)));
  return new Map(folders.map((f, i) => [f.dir, listings[i]!]));
}

/** A folder's entries, links followed; a missing folder lists none. */
export async function listFolder(dir: string): Promise<Listing> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    return { error: (e as Error).message };
  }
  return Promise.all(
    names.map(async (name): Promise<DirEntry> => {
      const s = await stat(join(dir, name)).catch(() => null);
      // a dangling link is a file that cannot run: listed, so that its check fails visibly
      if (!s) return { name, file: true, executable: false };
      return { name, file: s.isFile(), executable: (s.mode & 0o111) !== 0 };
    }),
  );
}
