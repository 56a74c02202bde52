import { describe, expect, it } from 'vitest';
import { applyTransition, beginUpdate, initialRecord, type AgentRecord } from '../../../device-agent/engine/record.js';
import type { AgentEvent } from '../../../device-agent/engine/states.js';
import { nextState } from '../../../device-agent/engine/transitions.js';
import { eventForSave } from '../../../device-agent/worker/feed.js';
import { nextWakeMs, resumesNow, tickAction } from '../../../device-agent/worker/tick.js';
import { RECHECK_MS } from '../../../device-agent/agent/daemon-plan.js';
import { BUILT_IN_DEFAULTS, type AgentConfig } from '../../../device-agent/config/schema.js';

const at = new Date(Date.UTC(2026, 0, 1));
const step = (r: AgentRecord, event: AgentEvent, detail?: string) => applyTransition(r, { event, to: nextState(r.state, event), at, ...(detail ? { detail } : {}) });

describe('eventForSave: the event a saved record makes', () => {
  it('none for checking and idle; the phase entered with its detail; refused with the reason at the end', () => {
    const begun = beginUpdate(initialRecord(), { id: 'u1', at });
    expect(eventForSave(begun, at)).toBeNull();
    const dl = step(begun, 'updateAvailable', 'fx 1.1');
    expect(eventForSave(dl, at)).toEqual({ type: 'downloading', updateId: 'u1', reason: 'fx 1.1' });
    expect(eventForSave(step(dl, 'downloaded'), at)).toEqual({ type: 'staging', updateId: 'u1', reason: null });
    const refused = step(begun, 'refused', 'update refused (board): not this board');
    expect(eventForSave(refused, at)).toEqual({ type: 'refused', updateId: 'u1', reason: 'update refused (board): not this board' });
    expect(eventForSave(step(refused, 'reported'), at)).toBeNull();
    expect(eventForSave(step(begun, 'upToDate'), at)).toBeNull();
  });
});

describe('tickAction and nextWakeMs', () => {
  const config = { ...BUILT_IN_DEFAULTS, pollIntervalSeconds: 600 } as AgentConfig;
  it('--poll checks now when idle; otherwise the daemon decides, and a wait says when to tick again', () => {
    const lastPollAt = new Date(at.getTime() - 60_000);
    expect(tickAction(initialRecord(), { config }, { lastPollAt, jitter: 0, poll: true, now: at })).toEqual({ kind: 'check', id: `poll-${at.getTime() / 1000}` });
    const wait = tickAction(initialRecord(), { config }, { lastPollAt, jitter: 0, poll: false, now: at });
    expect(wait).toMatchObject({ kind: 'wait', ms: 540_000 });
    expect(nextWakeMs(wait)).toBe(540_000);
    expect(nextWakeMs({ kind: 'wait', ms: null, why: 'awaiting the reboot' })).toBeNull();
    expect(nextWakeMs({ kind: 'apply' })).toBe(RECHECK_MS);
    const busy = { ...beginUpdate(initialRecord(), { id: 'u1', at }), state: 'awaitingReboot' as const };
    expect(tickAction(busy, { config }, { lastPollAt: null, jitter: 0, poll: true, now: at })).toMatchObject({ kind: 'wait', ms: null });
  });
});

describe('resumesNow', () => {
  it('an update waiting for its reboot is resumed only by the first tick after the relay started', () => {
    const waiting = { ...beginUpdate(initialRecord(), { id: 'u1', at }), state: 'awaitingReboot' as const };
    expect(resumesNow(waiting, true)).toBe(true);
    expect(resumesNow(waiting, false)).toBe(false);
    for (const state of ['idle', 'downloading', 'arming', 'rebooting', 'verifying'] as const) expect(resumesNow({ state }, false)).toBe(true);
  });
});
