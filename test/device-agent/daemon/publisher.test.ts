import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DeviceEvent } from '../../../contract/documents/event.js';
import type { Status } from '../../../contract/documents/status.js';
import { topics } from '../../../contract/topics.js';
import type { Publication } from '../../../common/mqtt/session.js';
import { Publisher } from '../../../device-agent/daemon/publisher.js';
import { BAD_INPUT_BURST, SUPPRESSED_WINDOW_MS } from '../../../device-agent/daemon/rate-limit.js';

// The session is a seam (an option): a recording object stands in for the broker connection.
let sent: Publication[];
let connected: boolean;
let logged: string[];
const session = { publish: (p: Publication) => (connected ? (sent.push(p), true) : false) };
const status = (phase: string, doneBytes: number) => ({ kind: 'Status', phase, updateId: 'u1', progress: { doneBytes, totalBytes: 100 } }) as unknown as Status;
const event = (reason: string) => ({ apiVersion: 'deb-ota/v1', kind: 'Event', device: 'gw-1', updateId: null, type: 'command-refused', reason, time: '2026-01-01T00:00:00Z' }) as DeviceEvent;
const payloads = (leaf: string) => sent.filter((p) => p.topic.endsWith(`/${leaf}`)).map((p) => JSON.parse(p.payload as string) as Record<string, unknown>);

function publisher(): Publisher {
  return new Publisher({ session: () => session, topics: topics(), device: 'gw-1', statusMinIntervalMs: 1000, log: (_l, t) => logged.push(t), now: Date.now });
}

beforeEach(() => {
  vi.useFakeTimers();
  sent = [];
  connected = true;
  logged = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Publisher', () => {
  it('sends progress at most once per interval, and always the last one', () => {
    const p = publisher();
    for (let i = 0; i <= 10; i++) p.status(status('downloading', i * 10));
    expect(payloads('status').map((s) => (s.progress as { doneBytes: number }).doneBytes)).toEqual([0]);
    vi.advanceTimersByTime(1000);
    expect(payloads('status').map((s) => (s.progress as { doneBytes: number }).doneBytes)).toEqual([0, 100]);
    p.status(status('deploying', 100));
    expect(payloads('status').at(-1)!.phase).toBe('deploying');
    expect(sent.every((s) => s.retain && s.qos === 1)).toBe(true);
    p.stop();
  });

  it('keeps what it cannot send while disconnected and flushes it in order', () => {
    const p = publisher();
    connected = false;
    p.event(event('a'));
    p.status(status('downloading', 1));
    p.event(event('b'));
    p.status(status('deploying', 2));
    expect(sent).toEqual([]);
    connected = true;
    p.flush();
    expect(sent.map((s) => (JSON.parse(s.payload as string) as { reason?: string; phase?: string }).reason ?? (JSON.parse(s.payload as string) as { phase: string }).phase)).toEqual(['a', 'b', 'deploying']);
    p.stop();
  });

  it('lets a burst of bad input through, then counts the rest and reports them once per window', () => {
    const p = publisher();
    for (let i = 0; i < 100; i++) p.badInput(event(`bad ${i}`), `bad ${i}`);
    expect(payloads('events')).toHaveLength(BAD_INPUT_BURST);
    expect(logged).toHaveLength(BAD_INPUT_BURST);
    vi.advanceTimersByTime(SUPPRESSED_WINDOW_MS);
    const summary = payloads('events').at(-1)!;
    expect(summary.reason).toBe(`${100 - BAD_INPUT_BURST} bad messages suppressed in the last minute`);
    expect(logged.at(-1)).toBe(summary.reason);
    p.stop();
  });
});
