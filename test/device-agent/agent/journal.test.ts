import { describe, expect, it } from 'vitest';
import { eventText, fetchThrottle, journalLine } from '../../../device-agent/agent/journal.js';

describe('journal lines', () => {
  it('prefix the sd-daemon priority and keep one line', () => {
    expect(journalLine({ level: 'info', text: 'u1: checking → downloading' })).toBe('<6>u1: checking → downloading');
    expect(journalLine({ level: 'warning', text: 'x' })).toBe('<4>x');
    expect(journalLine({ level: 'error', text: 'a\n  b' })).toBe('<3>a b');
  });

  it('name the update of an engine event and keep its level', () => {
    expect(eventText({ phase: 'agent', updateId: 'u1', state: 'rollingBack', event: 'unhealthy', message: 'verifying → rollingBack on unhealthy', level: 'warning' })).toEqual({
      level: 'warning',
      text: 'u1: verifying → rollingBack on unhealthy',
    });
    expect(eventText({ phase: 'fetch', message: 'delta part 1/2', bytes: 5, current: 5, total: 9 }).text).toBe('fetch: delta part 1/2 (5/9)');
  });

  it('let one fetch event a second through, the last of a part always, anything else always', () => {
    const pass = fetchThrottle(1000);
    const f = (current: number) => ({ phase: 'fetch' as const, message: 'part', current, total: 10, bytes: current });
    expect([pass(f(1), 0), pass(f(2), 500), pass(f(3), 1000), pass(f(10), 1001)]).toEqual([true, false, true, true]);
    expect(pass({ phase: 'import', message: 'applying' }, 1002)).toBe(true);
  });
});
