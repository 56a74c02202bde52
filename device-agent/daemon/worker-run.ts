import type { LogLevel } from './publisher.js';
import type { Job } from './queue.js';
import { startSelf, workerArgs } from './self.js';
import { parseWorkerLine, type WorkerLine } from './worker-lines.js';

/**
 * One worker run (docs/agent.md, "The daemon and its workers"): `ota-agent worker <job>` with the
 * job's input on stdin, its JSON lines handed on as they come. A line that does not parse, or a
 * worker that fails, is logged and the relay goes on: it never crashes on what a worker prints.
 *
 * @example
 * const run = runWorker({ kind: 'report' }, { root: '/', lastPollAtMs: null, jitter: 0, log, onLine });
 * const ok = await run.done;
 */
export interface WorkerRunOptions {
  root: string;
  /** The relay's memory of the last poll, and the jitter of the next, for `tick`. */
  lastPollAtMs: number | null;
  jitter: number;
  log: (level: LogLevel, text: string) => void;
  onLine: (line: WorkerLine) => void;
}

export interface WorkerRun {
  kill(signal: NodeJS.Signals): void;
  /** True when the worker exited 0. */
  done: Promise<boolean>;
}

/** The worker protocol's longest line: past it, the worker is broken. */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;

export function jobArgs(job: Job, o: Pick<WorkerRunOptions, 'root' | 'lastPollAtMs' | 'jitter'>): { args: string[]; input: string } {
  switch (job.kind) {
    case 'tick': {
      const extra = [...(o.lastPollAtMs !== null ? ['--last-poll', String(Math.round(o.lastPollAtMs))] : []), '--jitter', o.jitter.toFixed(6), ...(job.poll ? ['--poll'] : []), ...(job.afterStart === true ? ['--after-start'] : [])];
      return { args: workerArgs('tick', o.root, extra), input: '' };
    }
    case 'release':
    case 'command':
      return { args: workerArgs(job.kind, o.root), input: job.jws };
    case 'rollout':
      return { args: workerArgs('rollout', o.root), input: `${job.jws}\n${job.release ?? ''}` };
    case 'report':
      return { args: workerArgs('report', o.root), input: '' };
  }
}

export function runWorker(job: Job, o: WorkerRunOptions): WorkerRun {
  const { args, input } = jobArgs(job, o);
  const name = `worker ${job.kind}`;
  const child = startSelf(args, {
    input,
    maxLineBytes: MAX_LINE_BYTES,
    onLongLine: () => o.log(3, `${name}: a line over ${MAX_LINE_BYTES} bytes, dropped`),
    onLine: (text) => {
      if (text.trim() === '') return;
      const line = parseWorkerLine(text);
      if ('problem' in line) o.log(3, `${name}: ${line.problem}`);
      else o.onLine(line);
    },
  });
  const done = child.exited.then(
    ({ code, signal }) => {
      if (code === 0) return true;
      o.log(3, `${name} ${signal !== null ? `was killed by ${signal}` : `exited with ${code}`}`);
      return false;
    },
    (e: unknown) => {
      o.log(3, `${name}: ${(e as Error).message}`);
      return false;
    },
  );
  return { kill: (signal) => child.kill(signal), done };
}
