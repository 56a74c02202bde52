/**
 * When the relay starts its next `tick` worker (docs/agent.md, "The daemon and its workers"), as
 * a pure decision over what it remembers: the wake-up the last tick asked for, and how long the
 * broker has been away. With a broker gone for `brokerAwayMs`, a tick that polls the group's
 * release over HTTP runs every `awayPollMs` (±10% jitter) until the broker returns, so a missed
 * notification never strands a device. Triggers (a change of state.json, a finished release or
 * command worker, the start) are the shell's: they ask for a tick at once.
 *
 * @example
 * const d = nextTick(state, Date.now());
 * if (d.tick) runTick({ poll: d.poll }); else if (d.inMs !== null) setTimeout(wake, d.inMs);
 */
export interface ScheduleState {
  /** Absolute time the last tick asked to run again at; null: only on a trigger. */
  wakeAtMs: number | null;
  /** Since when the broker has been unreachable; null: connected, or no broker at all. */
  brokerAwaySinceMs: number | null;
  /** The last tick that polled because the broker was away. */
  lastAwayPollAtMs: number | null;
  /** In [-1, 1]: this away poll's jitter, drawn again after each. */
  jitter: number;
  brokerAwayMs: number;
  awayPollMs: number;
}

export type TickDecision = { tick: true; poll: boolean } | { tick: false; inMs: number | null };

export function nextTick(s: ScheduleState, nowMs: number): TickDecision {
  const awayDue = awayPollDueAt(s);
  const due = [s.wakeAtMs, awayDue].filter((t): t is number => t !== null);
  if (due.length === 0) return { tick: false, inMs: null };
  const first = Math.min(...due);
  if (first > nowMs) return { tick: false, inMs: first - nowMs };
  return { tick: true, poll: awayDue !== null && awayDue <= nowMs };
}

function awayPollDueAt(s: ScheduleState): number | null {
  if (s.brokerAwaySinceMs === null) return null;
  const awayAt = s.brokerAwaySinceMs + s.brokerAwayMs;
  if (s.lastAwayPollAtMs === null || s.lastAwayPollAtMs < awayAt) return awayAt;
  return s.lastAwayPollAtMs + Math.round(s.awayPollMs * (1 + 0.1 * s.jitter));
}
