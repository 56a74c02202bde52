/**
 * The relay's worker queue as data (docs/agent.md, "The daemon and its workers"): one worker at
 * a time, and what waits. A new release or rollout replaces a waiting one (only the newest matters), and a
 * rollout goes before a waiting release (the release is then gated by it: docs/agent.md, "Rollouts"); a tick
 * or a report already waiting absorbs another (a poll request is kept); commands wait in order;
 * past `MAX_WAITING` jobs a command is refused `busy`, so a flood cannot grow the relay's memory
 * (a release, a tick and a report are never refused: each waits at most once).
 *
 * @example
 * let q = emptyQueue();
 * const r = admit(q, { kind: 'command', jws });
 * if (r.refused) report('busy'); q = r.queue;
 */
export type Job =
  | { kind: 'tick'; poll: boolean; afterStart?: boolean }
  | { kind: 'release'; jws: string }
  /** The group's rollout, and the group's release the relay last heard (the worker gates it anew). */
  | { kind: 'rollout'; jws: string; release: string | null }
  | { kind: 'command'; jws: string }
  | { kind: 'report' };

export interface Queue {
  readonly waiting: readonly Job[];
}

export const MAX_WAITING = 16;

export function emptyQueue(): Queue {
  return { waiting: [] };
}

export function admit(q: Queue, job: Job): { queue: Queue; refused: Job | null } {
  const same = q.waiting.findIndex((w) => w.kind === job.kind);
  if (job.kind !== 'command' && same !== -1) {
    const waiting = q.waiting[same] as { poll: boolean; afterStart?: boolean };
    const merged: Job = job.kind === 'tick' ? { kind: 'tick', poll: job.poll || waiting.poll, ...(job.afterStart === true || waiting.afterStart === true ? { afterStart: true } : {}) } : job;
    return { queue: { waiting: q.waiting.map((w, i) => (i === same ? merged : w)) }, refused: null };
  }
  // Only commands are refused: a release, a rollout, a tick or a report waits at most once each (they merge
  // above), and refusing one would drop the group's release or a state change under a command flood.
  if (job.kind === 'command' && q.waiting.length >= MAX_WAITING) return { queue: q, refused: job };
  const release = q.waiting.findIndex((w) => w.kind === 'release');
  if (job.kind === 'rollout' && release !== -1) return { queue: { waiting: [...q.waiting.slice(0, release), job, ...q.waiting.slice(release)] }, refused: null };
  return { queue: { waiting: [...q.waiting, job] }, refused: null };
}

/** The next job to run, and the queue without it. */
export function take(q: Queue): { job: Job | null; queue: Queue } {
  const [job, ...rest] = q.waiting;
  return job === undefined ? { job: null, queue: q } : { job, queue: { waiting: rest } };
}
