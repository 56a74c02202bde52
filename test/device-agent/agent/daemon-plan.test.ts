import { describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../../device-agent/config/schema.js';
import { nextDaemonAction, POLL_JITTER, RECHECK_MS, type DaemonInput } from '../../../device-agent/agent/daemon-plan.js';
import { applyTransition, beginUpdate, initialRecord, type AgentRecord } from '../../../device-agent/engine/record.js';
import type { State } from '../../../device-agent/engine/states.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const config = (o: { poll?: number; downloadOnly?: boolean; window?: AgentConfig['policy']['maintenanceWindow'] } = {}): DaemonInput['config'] => ({
  pollIntervalSeconds: o.poll ?? 3600,
  policy: { reboot: 'auto', maintenanceWindow: o.window ?? null, downloadOnly: o.downloadOnly ?? false },
});

/** A record in `state` with an update begun by `id`, as the machine would have saved it. */
function inState(state: State, downloadOnly = false): AgentRecord {
  const begun = beginUpdate(initialRecord(), { id: 'u1', at: NOW, downloadOnly });
  return applyTransition(begun, { event: 'updateAvailable', to: state, at: NOW });
}

const decide = (over: Partial<DaemonInput>) => nextDaemonAction({ record: initialRecord(), config: config(), now: NOW, lastPollAt: null, jitter: 0, ...over });

describe('nextDaemonAction', () => {
  it('polls at once when idle and never polled, named by the unix second', () => {
    expect(decide({})).toEqual({ kind: 'check', id: `poll-${NOW.getTime() / 1000}` });
  });

  it('waits out the poll interval after a poll, stretched or shrunk by the jitter up to 10%', () => {
    const lastPollAt = new Date(NOW.getTime() - 600_000);
    expect(decide({ lastPollAt })).toMatchObject({ kind: 'wait', ms: 3_000_000 });
    expect(decide({ lastPollAt, jitter: 1 })).toMatchObject({ kind: 'wait', ms: 3_000_000 + 3_600_000 * POLL_JITTER });
    expect(decide({ lastPollAt, jitter: -1 })).toMatchObject({ kind: 'wait', ms: 3_000_000 - 3_600_000 * POLL_JITTER });
    // a jitter outside [-1, 1] is clamped: the wait never leaves the ±10% band
    expect(decide({ lastPollAt, jitter: 7 })).toEqual(decide({ lastPollAt, jitter: 1 }));
  });

  it('polls again once the interval has passed', () => {
    const lastPollAt = new Date(NOW.getTime() - 3_600_000);
    expect(decide({ lastPollAt })).toMatchObject({ kind: 'check' });
    expect(decide({ lastPollAt, jitter: 0.5 })).toMatchObject({ kind: 'wait', ms: 180_000 });
  });

  it('never polls with pollIntervalSeconds 0', () => {
    expect(decide({ config: config({ poll: 0 }) })).toMatchObject({ kind: 'wait', ms: null });
  });

  it('applies a downloaded update when the policy allows it', () => {
    expect(decide({ record: inState('downloaded') })).toEqual({ kind: 'apply' });
    expect(decide({ record: inState('downloaded'), config: config({ window: { start: '11:00', end: '13:00' } }) })).toEqual({ kind: 'apply' });
  });

  it('looks again every minute while outside the window', () => {
    const r = decide({ record: inState('downloaded'), config: config({ window: { start: '22:00', end: '04:00' } }) });
    expect(r).toMatchObject({ kind: 'wait', ms: RECHECK_MS });
  });

  it('leaves a download-only update (by policy or by the command) for `ota-agent upgrade`', () => {
    expect(decide({ record: inState('downloaded'), config: config({ downloadOnly: true }) })).toMatchObject({ kind: 'wait', ms: null });
    expect(decide({ record: inState('downloaded', true) })).toMatchObject({ kind: 'wait', ms: null });
  });

  it('does nothing while awaiting the reboot, and waits for whoever drives a working state', () => {
    expect(decide({ record: inState('awaitingReboot') })).toMatchObject({ kind: 'wait', ms: null });
    for (const s of ['checking', 'downloading', 'verifying', 'rollingBack'] as const) {
      expect(decide({ record: inState(s) })).toMatchObject({ kind: 'wait', ms: RECHECK_MS });
    }
  });
});
