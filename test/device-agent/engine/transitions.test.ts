import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { EVENTS, RESTING_STATES, STATES, type State } from '../../../device-agent/engine/states.js';
import { RESUME, TRANSITIONS, eventsFrom, nextState } from '../../../device-agent/engine/transitions.js';

/** States reachable from `start` along the table's edges, never entering `avoid`. */
function reachable(start: State, avoid: readonly State[] = []): Set<State> {
  const seen = new Set<State>([start]);
  const queue = [start];
  while (queue.length > 0) {
    const from = queue.shift() as State;
    for (const [f, , to] of TRANSITIONS) {
      if (f !== from || seen.has(to) || avoid.includes(to)) continue;
      seen.add(to);
      queue.push(to);
    }
  }
  return seen;
}

describe('the transition table', () => {
  it('has one row per edge: no (state, event) pair twice', () => {
    const keys = TRANSITIONS.map(([from, event]) => `${from} ${event}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('names only known states and events, and uses every one of them', () => {
    for (const [from, event, to] of TRANSITIONS) {
      expect(STATES).toContain(from);
      expect(EVENTS).toContain(event);
      expect(STATES).toContain(to);
    }
    const used = new Set(TRANSITIONS.flatMap(([from, , to]) => [from, to]));
    expect([...STATES].filter((s) => !used.has(s))).toEqual([]);
    const events = new Set(TRANSITIONS.map(([, e]) => e));
    expect([...EVENTS].filter((e) => !events.has(e))).toEqual([]);
  });

  it('reaches every state from idle, and idle from every state', () => {
    expect([...reachable('idle')].sort()).toEqual([...STATES].sort());
    for (const s of STATES) expect(reachable(s).has('idle'), `idle from ${s}`).toBe(true);
  });

  it('gives every working state a failed edge, and resting states none', () => {
    for (const s of STATES) {
      const accepts = eventsFrom(s);
      if (RESTING_STATES.includes(s)) expect(accepts, s).not.toContain('failed');
      else expect(accepts, s).toContain('failed');
    }
  });

  it('keeps the safety order: arming before deploying; after arming, idle only through committing or rollingBack', () => {
    // A deployment may boot as soon as it is written: the counter must be armed by then.
    expect(TRANSITIONS.filter(([, , to]) => to === 'deploying').map(([from, event]) => `${from} ${event}`)).toEqual(['arming armed']);
    expect(TRANSITIONS.filter(([, , to]) => to === 'arming').map(([from]) => from).sort()).toEqual(['downloaded', 'downloading']);
    const withoutEnds = reachable('arming', ['committing', 'rollingBack']);
    expect(withoutEnds.has('idle')).toBe(false);
    expect(withoutEnds.has('reporting')).toBe(false);
    // and a commit needs a verification first: committing is reached only from verifying
    expect(TRANSITIONS.filter(([, , to]) => to === 'committing').map(([from]) => from)).toEqual(['verifying']);
  });

  it('rolls back anything that fails once the bootloader is armed', () => {
    for (const s of ['arming', 'deploying', 'rebooting', 'verifying', 'committing'] as const) {
      expect(nextState(s, 'failed'), s).toBe('rollingBack');
    }
  });

  it('follows the happy path', () => {
    const path: State[] = ['idle'];
    for (const e of ['check', 'updateAvailable', 'downloaded', 'armed', 'deployed', 'rebootRequested', 'booted', 'healthy', 'committed', 'reported'] as const) {
      path.push(nextState(path.at(-1) as State, e));
    }
    expect(path).toEqual(['idle', 'checking', 'downloading', 'arming', 'deploying', 'rebooting', 'awaitingReboot', 'verifying', 'committing', 'reporting', 'idle']);
  });

  it('throws an OtaError naming the state and the accepted events for a missing edge', () => {
    const err = (() => {
      try {
        nextState('idle', 'healthy');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(OtaError);
    expect((err as OtaError).code).toBe('ERR_OTA_STATE');
    expect((err as OtaError).message).toContain('idle');
    expect((err as OtaError).hint).toContain('check');
  });
});

describe('what the agent does on start (RESUME)', () => {
  it('has an action for every state and an edge for every event it feeds', () => {
    for (const s of STATES) {
      const action = RESUME[s];
      if (action === 'booted' || action === 'interrupted') expect(() => nextState(s, action), s).not.toThrow();
      if (action === 'rest') expect(RESTING_STATES, s).toContain(s);
    }
  });

  it('never re-runs deploying (not idempotent): it rolls back; arming writes fixed values and runs again', () => {
    expect(RESUME.arming).toBe('rerun');
    expect(RESUME.deploying).toBe('interrupted');
    expect(nextState('deploying', 'interrupted')).toBe('rollingBack');
  });

  it('continues rebooting and awaitingReboot by verifying, never by rebooting again', () => {
    expect(nextState('rebooting', RESUME.rebooting as 'booted')).toBe('verifying');
    expect(nextState('awaitingReboot', RESUME.awaitingReboot as 'booted')).toBe('verifying');
  });
});
