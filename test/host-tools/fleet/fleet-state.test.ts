import { describe, expect, it } from 'vitest';
import { matchDevice } from '../../../host-tools/fleet/cve.js';
import { fleetView } from '../../../host-tools/fleet/device-view.js';
import { applyMessage, deviceTopic, newFleetState } from '../../../host-tools/fleet/fleet-state.js';
import { age, renderTable } from '../../../host-tools/fleet/table.js';
import { presenceOf, statusOf } from '../../helpers/fleet-devices.js';

const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('the fleet state from retained messages', () => {
  it('keeps each leaf, forgets a cleared one and a device left with nothing', () => {
    const fleet = newFleetState('lab/ota');
    expect(applyMessage(fleet, 'lab/ota/devices/gw-1/status', bytes(statusOf('gw-1')))).toBe('gw-1');
    applyMessage(fleet, 'lab/ota/devices/gw-1/online', bytes(presenceOf('gw-1', true)));
    applyMessage(fleet, 'lab/ota/devices/gw-1/status', Buffer.alloc(0));
    expect(fleet.devices.get('gw-1')).toMatchObject({ status: null, presence: { online: true } });
    applyMessage(fleet, 'lab/ota/devices/gw-1/online', Buffer.alloc(0));
    expect(fleet.devices.size).toBe(0);
  });

  it('a malformed document replaces the good one before it, and a good one clears the problem', () => {
    const fleet = newFleetState('ota');
    applyMessage(fleet, 'ota/devices/gw-1/status', bytes(statusOf('gw-1')));
    applyMessage(fleet, 'ota/devices/gw-1/status', bytes({ ...statusOf('gw-1'), phase: 'dancing' }));
    expect(fleet.devices.get('gw-1')).toMatchObject({ status: null, problems: { status: expect.stringMatching(/^malformed \(phase: /) } });
    applyMessage(fleet, 'ota/devices/gw-1/status', bytes(statusOf('gw-1')));
    expect(fleet.devices.get('gw-1')!.problems).toEqual({});
  });

  it('ignores other topics, deeper levels and other prefixes', () => {
    const fleet = newFleetState('ota');
    for (const t of ['ota/devices/gw-1/telemetry', 'ota/devices/gw-1/status/x', 'other/devices/gw-1/status', 'ota/groups/lab/release', 'ota/fleet/probe/1']) {
      expect(applyMessage(fleet, t, bytes(statusOf('gw-1')))).toBeNull();
    }
    expect(fleet.devices.size).toBe(0);
    expect(fleet.ignored).toBe(5);
    expect(deviceTopic('a/b', 'a/b/devices/x/online')).toEqual({ id: 'x', leaf: 'online' });
  });

  it('counts and filters by group; health follows the phase', () => {
    const fleet = newFleetState('ota');
    applyMessage(fleet, 'ota/devices/b/status', bytes(statusOf('b', { phase: 'rolled-back', group: 'g2' })));
    applyMessage(fleet, 'ota/devices/a/status', bytes(statusOf('a', { phase: 'staging' })));
    const all = fleetView(fleet);
    expect(all.devices.map((d) => [d.device, d.health])).toEqual([['a', 'updating'], ['b', 'rolled-back']]);
    expect(all.counts.byPhase).toEqual({ staging: 1, 'rolled-back': 1 });
    expect(fleetView(fleet, { group: 'g2' }).devices.map((d) => d.device)).toEqual(['b']);
  });
});

describe('tables', () => {
  it('pads columns, cuts long cells and says how long ago', () => {
    expect(renderTable(['A', { title: 'B', maxChars: 3 }], [['x', 'abcdef'], ['yy', 'z']])).toEqual(['A   B', 'x   ab…', 'yy  z']);
    const now = new Date('2026-03-01T12:00:00Z');
    expect([age('2026-03-01T11:59:30Z', now), age('2026-03-01T11:00:00Z', now), age('2026-02-27T12:00:00Z', now), age(null, now)]).toEqual(['30s ago', '60m ago', '2d ago', '-']);
  });
});

describe('the CVE matcher', () => {
  const pkg = { name: 'libfoo1', version: '1.0-1', arch: 'arm64', source: 'foo', sourceVersion: '1.0-1' };
  const tracker = (rel: unknown) => ({ foo: { 'CVE-1': { releases: { bookworm: rel } } } });
  const match = (rel: unknown, version = '1.0-1') => matchDevice(tracker(rel), { device: 'd', codename: 'bookworm', packages: [{ ...pkg, sourceVersion: version }] }).map((e) => e.status);

  it('resolved below the fix, at it, not affected (0); open; undetermined; a broken entry', () => {
    expect(match({ status: 'resolved', fixed_version: '1.0-2' })).toEqual(['fixed-later']);
    expect(match({ status: 'resolved', fixed_version: '1.0-1' })).toEqual([]);
    expect(match({ status: 'resolved', fixed_version: '1:0.9-1' })).toEqual(['fixed-later']);
    expect(match({ status: 'resolved', fixed_version: '1.0' }, '1.0~rc1')).toEqual(['fixed-later']);
    expect(match({ status: 'resolved', fixed_version: '0' })).toEqual([]);
    expect(match({ status: 'open' })).toEqual(['open']);
    expect(match({ status: 'undetermined' })).toEqual(['undetermined']);
    expect(match({ status: 'resolved', fixed_version: 'not a version!' })).toEqual(['undetermined']);
    expect(match('garbage')).toEqual([]);
    expect(matchDevice({ foo: 'garbage', __proto__: { x: 1 } }, { device: 'd', codename: 'bookworm', packages: [pkg] })).toEqual([]);
    expect(matchDevice(tracker({ status: 'open' }), { device: 'd', codename: 'trixie', packages: [pkg] })).toEqual([]);
  });
});
