import { describe, expect, it } from 'vitest';
import { emptyOutbox, MAX_EVENTS, put, type OutboxItem } from '../../../device-agent/daemon/outbox.js';
import { admit, emptyQueue, MAX_WAITING, take, type Job, type Queue } from '../../../device-agent/daemon/queue.js';
import { BAD_INPUT_BURST, BAD_INPUT_REFILL_MS, drainSuppressed, fullBucket, statusSendAt, SUPPRESSED_WINDOW_MS, takeToken } from '../../../device-agent/daemon/rate-limit.js';
import { nextTick, type ScheduleState } from '../../../device-agent/daemon/schedule.js';
import { parseWorkerLine } from '../../../device-agent/daemon/worker-lines.js';
import { jobArgs } from '../../../device-agent/daemon/worker-run.js';

const admitAll = (jobs: Job[], q: Queue = emptyQueue()) => jobs.reduce<{ q: Queue; refused: Job[] }>((acc, j) => {
  const r = admit(acc.q, j);
  return { q: r.queue, refused: r.refused ? [...acc.refused, r.refused] : acc.refused };
}, { q, refused: [] });

describe('the worker queue', () => {
  it('keeps only the newest waiting release, in the place of the older one', () => {
    const { q } = admitAll([{ kind: 'release', jws: 'r1' }, { kind: 'command', jws: 'c1' }, { kind: 'release', jws: 'r2' }]);
    expect(q.waiting).toEqual([{ kind: 'release', jws: 'r2' }, { kind: 'command', jws: 'c1' }]);
  });

  it('keeps the newest rollout, ahead of a waiting release, so the release is gated by it', () => {
    const { q } = admitAll([{ kind: 'command', jws: 'c1' }, { kind: 'release', jws: 'r1' }, { kind: 'rollout', jws: 'o1', release: null }, { kind: 'rollout', jws: 'o2', release: 'r1' }]);
    expect(q.waiting).toEqual([{ kind: 'command', jws: 'c1' }, { kind: 'rollout', jws: 'o2', release: 'r1' }, { kind: 'release', jws: 'r1' }]);
    expect(admitAll([{ kind: 'rollout', jws: 'o1', release: null }, { kind: 'release', jws: 'r1' }]).q.waiting.map((j) => j.kind)).toEqual(['rollout', 'release']);
  });

  it('runs commands in order, and merges ticks keeping a poll request', () => {
    const { q } = admitAll([{ kind: 'tick', poll: true }, { kind: 'command', jws: 'a' }, { kind: 'tick', poll: false }, { kind: 'command', jws: 'b' }, { kind: 'report' }, { kind: 'report' }]);
    expect(q.waiting).toEqual([{ kind: 'tick', poll: true }, { kind: 'command', jws: 'a' }, { kind: 'command', jws: 'b' }, { kind: 'report' }]);
    const first = take(q);
    expect(first.job).toEqual({ kind: 'tick', poll: true });
    expect(take(first.queue).job).toEqual({ kind: 'command', jws: 'a' });
    expect(take(emptyQueue()).job).toBeNull();
    // The start's tick stays the start's when another tick joins it.
    expect(admitAll([{ kind: 'tick', poll: false, afterStart: true }, { kind: 'tick', poll: true }]).q.waiting).toEqual([{ kind: 'tick', poll: true, afterStart: true }]);
  });

  it(`refuses commands past ${MAX_WAITING} waiting, but a newer release still replaces the waiting one`, () => {
    const commands = Array.from({ length: 20 }, (_, i): Job => ({ kind: 'command', jws: `c${i}` }));
    const { q, refused } = admitAll([{ kind: 'release', jws: 'r1' }, ...commands, { kind: 'release', jws: 'r2' }]);
    expect(q.waiting).toHaveLength(MAX_WAITING);
    expect(refused.map((j) => (j as { jws: string }).jws)).toEqual(['c15', 'c16', 'c17', 'c18', 'c19']);
    expect(q.waiting[0]).toEqual({ kind: 'release', jws: 'r2' });
    // A full queue of commands still takes the group's release, a tick and a report, once each.
    const full = admitAll([...commands.slice(0, MAX_WAITING), { kind: 'release', jws: 'r3' }, { kind: 'tick', poll: false }, { kind: 'report' }, { kind: 'release', jws: 'r4' }]);
    expect(full.refused).toEqual([]);
    expect(full.q.waiting.slice(MAX_WAITING)).toEqual([{ kind: 'release', jws: 'r4' }, { kind: 'tick', poll: false }, { kind: 'report' }]);
    expect(admitAll([{ kind: 'command', jws: 'late' }], full.q).refused).toEqual([{ kind: 'command', jws: 'late' }]);
  });
});

describe('the outbox', () => {
  const ev = (n: number): OutboxItem => ({ topic: 'e', payload: String(n), qos: 1, retain: false, slot: null });
  const st = (p: string): OutboxItem => ({ topic: 's', payload: p, qos: 1, retain: true, slot: 'status' });

  it('keeps the latest status only, in the order of writing', () => {
    let box = emptyOutbox();
    for (const item of [st('a'), ev(1), st('b'), ev(2)]) box = put(box, item);
    expect(box.items.map((i) => i.payload)).toEqual(['1', 'b', '2']);
  });

  it(`keeps at most ${MAX_EVENTS} events, dropping and counting the oldest`, () => {
    let box = put(emptyOutbox(), st('s'));
    for (let i = 0; i < MAX_EVENTS + 10; i++) box = put(box, ev(i));
    expect(box.items.filter((i) => i.slot === null)).toHaveLength(MAX_EVENTS);
    expect(box.dropped).toBe(10);
    expect(box.items[0]!.payload).toBe('s');
    expect(box.items[1]!.payload).toBe('10');
    expect(box.items.at(-1)!.payload).toBe(String(MAX_EVENTS + 9));
  });
});

describe('the rate limits', () => {
  it(`lets a burst of ${BAD_INPUT_BURST} bad messages through, then one per refill, counting the rest`, () => {
    let b = fullBucket(0);
    const allowed: number[] = [];
    for (let t = 0; t < 100; t++) {
      const r = takeToken(b, t * 100); // ten a second for ten seconds
      b = r.bucket;
      if (r.allowed) allowed.push(t);
    }
    expect(allowed.length).toBe(BAD_INPUT_BURST + Math.floor((99 * 100) / BAD_INPUT_REFILL_MS));
    expect(b.suppressed).toBe(100 - allowed.length);
    expect(drainSuppressed(b, 9_900).count).toBe(0);
    const drained = drainSuppressed(b, b.suppressedSinceMs! + SUPPRESSED_WINDOW_MS);
    expect(drained.count).toBe(100 - allowed.length);
    expect(drained.bucket.suppressed).toBe(0);
  });

  it('sends a new phase or update at once, and progress only after the interval', () => {
    const last = { key: { phase: 'downloading', updateId: 'u1' }, sentAtMs: 1000 };
    expect(statusSendAt(null, last.key, 1000, 1000)).toBe('now');
    expect(statusSendAt(last, { phase: 'downloading', updateId: 'u1' }, 1500, 1000)).toBe(2000);
    expect(statusSendAt(last, { phase: 'downloading', updateId: 'u1' }, 2000, 1000)).toBe('now');
    expect(statusSendAt(last, { phase: 'deploying', updateId: 'u1' }, 1001, 1000)).toBe('now');
    expect(statusSendAt(last, { phase: 'downloading', updateId: 'u2' }, 1001, 1000)).toBe('now');
  });
});

describe('the schedule', () => {
  const s = (o: Partial<ScheduleState>): ScheduleState => ({ wakeAtMs: null, brokerAwaySinceMs: null, lastAwayPollAtMs: null, jitter: 0, brokerAwayMs: 300_000, awayPollMs: 900_000, ...o });

  it('waits for the wake-up the last tick asked for, or only for a trigger', () => {
    expect(nextTick(s({}), 0)).toEqual({ tick: false, inMs: null });
    expect(nextTick(s({ wakeAtMs: 5000 }), 1000)).toEqual({ tick: false, inMs: 4000 });
    expect(nextTick(s({ wakeAtMs: 5000 }), 5000)).toEqual({ tick: true, poll: false });
  });

  it('polls over HTTP once the broker has been away long enough, then every awayPoll with jitter', () => {
    expect(nextTick(s({ brokerAwaySinceMs: 0 }), 299_999)).toEqual({ tick: false, inMs: 1 });
    expect(nextTick(s({ brokerAwaySinceMs: 0 }), 300_000)).toEqual({ tick: true, poll: true });
    expect(nextTick(s({ brokerAwaySinceMs: 0, lastAwayPollAtMs: 300_000 }), 300_001)).toEqual({ tick: false, inMs: 899_999 });
    expect(nextTick(s({ brokerAwaySinceMs: 0, lastAwayPollAtMs: 300_000, jitter: 1 }), 300_000)).toEqual({ tick: false, inMs: 990_000 });
    expect(nextTick(s({ brokerAwaySinceMs: 0, lastAwayPollAtMs: 300_000, jitter: -1 }), 300_000 + 810_000)).toEqual({ tick: true, poll: true });
  });

  it('starts the away count again after the broker came back and left again', () => {
    expect(nextTick(s({ brokerAwaySinceMs: 2_000_000, lastAwayPollAtMs: 300_000 }), 2_000_001)).toEqual({ tick: false, inMs: 299_999 });
  });
});

describe('worker lines and arguments', () => {
  it('reads the four line types and names what is wrong with others', () => {
    expect(parseWorkerLine('{"type":"done","nextWakeMs":60000,"polled":true}')).toEqual({ type: 'done', nextWakeMs: 60000, polled: true });
    expect(parseWorkerLine('{"type":"done","nextWakeMs":null,"polled":false}')).toEqual({ type: 'done', nextWakeMs: null, polled: false });
    expect(parseWorkerLine('{"type":"event","doc":{"kind":"Event","type":"refused"},"untrusted":true}')).toMatchObject({ type: 'event', untrusted: true });
    expect(parseWorkerLine('{"type":"status","doc":{"kind":"Status","phase":"idle"}}')).toMatchObject({ type: 'status' });
    expect(parseWorkerLine('{"type":"inventory","doc":{"kind":"Inventory"}}')).toMatchObject({ type: 'inventory' });
    expect(parseWorkerLine('not json')).toMatchObject({ problem: expect.stringContaining('not JSON') });
    expect(parseWorkerLine('[1]')).toEqual({ problem: 'not a JSON object' });
    expect(parseWorkerLine('{"type":"status","doc":{"kind":"Event"}}')).toMatchObject({ problem: expect.stringContaining('Status') });
    expect(parseWorkerLine('{"type":"done","nextWakeMs":-1}')).toMatchObject({ problem: expect.stringContaining('nextWakeMs') });
    expect(parseWorkerLine('{"type":"launch"}')).toMatchObject({ problem: expect.stringContaining('unknown line type') });
  });

  it('gives tick the last poll and jitter, and release and command their payload on stdin', () => {
    expect(jobArgs({ kind: 'tick', poll: true }, { root: '/r', lastPollAtMs: 1234, jitter: 0.5 })).toEqual({ args: ['worker', 'tick', '--root', '/r', '--last-poll', '1234', '--jitter', '0.500000', '--poll'], input: '' });
    expect(jobArgs({ kind: 'tick', poll: false }, { root: '/r', lastPollAtMs: null, jitter: 0 }).args).toEqual(['worker', 'tick', '--root', '/r', '--jitter', '0.000000']);
    expect(jobArgs({ kind: 'tick', poll: false, afterStart: true }, { root: '/r', lastPollAtMs: null, jitter: 0 }).args).toEqual(['worker', 'tick', '--root', '/r', '--jitter', '0.000000', '--after-start']);
    expect(jobArgs({ kind: 'command', jws: 'a.b.c' }, { root: '/r', lastPollAtMs: null, jitter: 0 })).toEqual({ args: ['worker', 'command', '--root', '/r'], input: 'a.b.c' });
  });
});
