import { readFile, statfs } from 'node:fs/promises';
import { runBounded, type BoundedResult } from '../../common/exec.js';
import { formatBytes } from '../../common/units.js';
import type { CheckSpec } from './plan.js';
import type { CheckResult } from './report.js';

/**
 * Running one planned check (docs/agent.md, "Health checks"). Never throws: whatever goes wrong
 * (a missing program, an unreadable file) is that check's failure, reported with the others.
 *
 * @example
 * const r = await runCheck({ kind: 'unit', name: 'unit:sshd.service', level: 'required', unit: 'sshd.service' }, ctx);
 */
export interface CheckContext {
  timeoutMs: number;
  graceMs: number;
  /** Aborted at the overall deadline: whatever still runs is killed at once. */
  deadline: AbortSignal;
  /** The environment of scripts and systemctl (default: the agent's own). */
  env?: NodeJS.ProcessEnv;
  /** Where MemAvailable is read (default /proc/meminfo). */
  meminfoPath?: string;
}

export type CheckOutcome = Pick<CheckResult, 'status' | 'detail'>;

export async function runCheck(spec: CheckSpec, ctx: CheckContext): Promise<CheckOutcome> {
  try {
    switch (spec.kind) {
      case 'unit':
        return unitOutcome(await bounded(`health check ${spec.name}`, ['systemctl', 'is-active', '--', spec.unit], ctx), ctx);
      case 'script':
        if (!spec.runnable) return { status: 'failed', detail: spec.why };
        return scriptOutcome(await bounded(`health check ${spec.name}`, spec.argv, ctx), ctx);
      case 'disk':
        return await diskOutcome(spec.path, spec.minFreeBytes);
      case 'memory':
        return await memoryOutcome(ctx.meminfoPath ?? '/proc/meminfo', spec.minAvailableBytes);
    }
  } catch (e) {
    return { status: 'failed', detail: (e as Error).message };
  }
}

function bounded(description: string, argv: string[], ctx: CheckContext): Promise<BoundedResult> {
  return runBounded(description, argv, { timeoutMs: ctx.timeoutMs, graceMs: ctx.graceMs, signal: ctx.deadline, env: ctx.env, keepBytes: 4096 });
}

/** A run that did not end by itself: timed out, killed at the deadline, or never started. */
function unfinished(r: BoundedResult, ctx: CheckContext, program: string): CheckOutcome | null {
  if (r.spawnError !== undefined) return { status: 'failed', detail: `cannot run ${program}: ${r.spawnError}` };
  if (r.aborted) return { status: 'timedOut', detail: 'killed at the health deadline' };
  if (r.timedOut) return { status: 'timedOut', detail: `timed out after ${ctx.timeoutMs / 1000} s (ended with ${r.signal ?? 'SIGTERM'})` };
  return null;
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)?.trim() ?? '';
}

function unitOutcome(r: BoundedResult, ctx: CheckContext): CheckOutcome {
  const early = unfinished(r, ctx, 'systemctl');
  if (early) return early;
  // is-active prints the unit's state (active, activating, failed, inactive...) and exits 0 only for active.
  const state = lastLine(r.stdout) || lastLine(r.stderr) || `exit ${r.code}`;
  return r.code === 0 ? { status: 'passed', detail: state } : { status: 'failed', detail: state };
}

function scriptOutcome(r: BoundedResult, ctx: CheckContext): CheckOutcome {
  const early = unfinished(r, ctx, 'the script');
  if (early) return early;
  const said = lastLine(r.stderr) || lastLine(r.stdout);
  if (r.code === 0) return { status: 'passed', detail: said || 'exit 0' };
  const how = r.signal ? `killed by ${r.signal}` : `exited with ${r.code}`;
  return { status: 'failed', detail: said ? `${how}: ${said}` : how };
}

async function diskOutcome(path: string, minFreeBytes: number): Promise<CheckOutcome> {
  const s = await statfs(path);
  // f_bavail: what an unprivileged writer can still use; the root reserve is not free for services.
  const free = s.bavail * s.bsize;
  const detail = `${formatBytes(free)} free on ${path}, at least ${formatBytes(minFreeBytes)} asked`;
  return { status: free >= minFreeBytes ? 'passed' : 'failed', detail };
}

/** MemAvailable in bytes, from /proc/meminfo's text (which counts in kB, meaning KiB). */
export function memAvailableBytes(meminfo: string): number | null {
  const m = /^MemAvailable:\s+(\d+)\s+kB$/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : null;
}

async function memoryOutcome(meminfoPath: string, minAvailableBytes: number): Promise<CheckOutcome> {
  const available = memAvailableBytes(await readFile(meminfoPath, 'utf8'));
  if (available === null) return { status: 'failed', detail: `${meminfoPath} has no MemAvailable line` };
  const detail = `${formatBytes(available)} available, at least ${formatBytes(minAvailableBytes)} asked`;
  return { status: available >= minAvailableBytes ? 'passed' : 'failed', detail };
}
