import { describe, expect, it } from 'vitest';
import { API_VERSION, parseDocument } from '../../../contract/index.js';
import { applyDashboardMessage, deviceSummary, KEEP, newDashboardModel, sampleHistory, takeDirty } from '../../../host-tools/dashboard/model.js';
import { originPolicy, sessionFromCookie } from '../../../host-tools/dashboard/http-policy.js';
import { statusOf } from '../../helpers/fleet-devices.js';

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const event = (device: string, n: number) => parseDocument('Event', { apiVersion: API_VERSION, kind: 'Event', device, updateId: '1.2', type: 'checking', reason: `#${n}`, time: '2026-03-01T12:00:00Z' });

describe('the dashboard model (contract-built documents, no broker)', () => {
  it('hands out the rows that changed once, and the ids of devices gone', () => {
    const m = newDashboardModel('ota');
    applyDashboardMessage(m, 'ota/devices/gw-1/status', json(statusOf('gw-1')), 0);
    applyDashboardMessage(m, 'ota/devices/gw-2/status', json(statusOf('gw-2')), 0);
    expect(takeDirty(m).rows.map((r) => r.device)).toEqual(['gw-1', 'gw-2']);
    expect(takeDirty(m).rows).toEqual([]);
    applyDashboardMessage(m, 'ota/devices/gw-2/status', Buffer.alloc(0), 0);
    expect(takeDirty(m)).toMatchObject({ rows: [], removed: ['gw-2'] });
  });

  it("keeps a device's last events, bounded, and none for a device it does not know", () => {
    const m = newDashboardModel('ota');
    applyDashboardMessage(m, 'ota/devices/gw-9/events', json(event('gw-9', 0)), 0);
    expect(m.events.size).toBe(0);
    applyDashboardMessage(m, 'ota/devices/gw-1/status', json(statusOf('gw-1')), 0);
    for (let n = 0; n < KEEP.events + 5; n++) applyDashboardMessage(m, 'ota/devices/gw-1/events', json(event('gw-1', n)), 0);
    const events = deviceSummary(m, 'gw-1')!.events;
    expect(events).toHaveLength(KEEP.events);
    expect(events[0]).toMatchObject({ ok: true, event: { reason: '#5' } });
    applyDashboardMessage(m, 'ota/devices/gw-1/events', json(event('gw-2', 0)), 0);
    expect(deviceSummary(m, 'gw-1')!.events.at(-1)).toMatchObject({ ok: false, reason: expect.stringMatching(/names device gw-2/) });
  });

  it('refuses an oversized telemetry sample before parsing it, and samples the versions over time', () => {
    const m = newDashboardModel('ota');
    applyDashboardMessage(m, 'ota/devices/gw-1/status', json(statusOf('gw-1', { booted: '2.0' })), 0);
    applyDashboardMessage(m, 'ota/devices/gw-1/telemetry', Buffer.alloc(KEEP.telemetryBytes + 1, 0x20), 0);
    expect(deviceSummary(m, 'gw-1')!.telemetryProblem).toMatch(/over the 16384-byte limit/);
    expect(sampleHistory(m, Date.parse('2026-03-01T12:00:00Z'))).toEqual({ time: '2026-03-01T12:00:00.000Z', byVersion: { '2.0': 1 } });
  });
});

describe('the dashboard HTTP policy', () => {
  it('answers to its own host names only, and takes its own origins only', () => {
    const p = originPolicy({ scheme: 'http', port: 8090, listen: '127.0.0.1', origins: ['https://ota.lan'] });
    expect(['127.0.0.1:8090', 'localhost:8090', 'ota.lan'].map(p.hostAllowed)).toEqual([true, true, true]);
    // DNS rebinding: a foreign name pointed at loopback.
    expect(p.hostAllowed('evil.example:8090')).toBe(false);
    expect(p.hostAllowed(undefined)).toBe(false);
    expect(p.originAllowed('http://127.0.0.1:8090')).toBe(true);
    expect(p.originAllowed('https://ota.lan')).toBe(true);
    for (const o of ['http://127.0.0.1:8091', 'null', 'http://evil.example', undefined]) expect(p.originAllowed(o)).toBe(false);
  });

  it('reads its session cookie among others', () => {
    expect(sessionFromCookie('a=1; ota_dashboard_session=abc; b=2')).toBe('abc');
    expect(sessionFromCookie('ota_dashboard_session=')).toBeNull();
    expect(sessionFromCookie(undefined)).toBeNull();
  });
});
