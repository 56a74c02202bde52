import { describe, expect, it } from 'vitest';
import type { DeviceEvent, Status, UpdatePhase } from '../../../contract/index.js';
import { allSettled, countOutcomes, planRollback, trackEvent, trackStatus } from '../../../host-tools/fleet/rollback-track.js';

const C = (n: number) => String(n).repeat(64);
const dep = (v: string, n: number) => ({ version: v, commit: C(n) });
function status(device: string, o: { group?: string; booted: [string, number]; rollback?: [string, number] | null; phase?: UpdatePhase; updateId?: string | null; error?: string }): Status {
  return {
    apiVersion: 'deb-ota/v1',
    kind: 'Status',
    device,
    agentVersion: '0.1.0',
    updatedAt: '2026-03-01T12:00:00Z',
    group: o.group ?? 'lab',
    deployments: { booted: dep(...o.booted), staged: null, rollback: o.rollback ? dep(...o.rollback) : null },
    phase: o.phase ?? 'idle',
    updateId: o.updateId ?? null,
    progress: null,
    lastError: o.error === undefined ? null : { code: 'update-failed', message: o.error, at: '2026-03-01T12:00:00Z' },
  };
}
const event = (device: string, type: DeviceEvent['type'], updateId: string | null, reason: string | null = null): DeviceEvent => ({ apiVersion: 'deb-ota/v1', kind: 'Event', device, updateId, type, reason, time: '2026-03-01T12:00:00Z' });
const N = 'nonce-1';

describe('planRollback: what each device must come back to, from the retained statuses', () => {
  const statuses = [status('a', { booted: ['1.1', 2], rollback: ['1.0', 1] }), status('b', { booted: ['1.0', 1], rollback: null }), status('x', { group: 'other', booted: ['1.1', 2] })];

  it('a group: its devices only; without --to the rollback deployment, with --to the version', () => {
    const plan = planRollback({ statuses, scope: { group: 'lab' }, to: null, onlyFrom: null });
    expect([...plan.devices.keys()]).toEqual(['a', 'b']);
    expect(plan.devices.get('a')!.target).toEqual({ version: '1.0', commit: C(1) });
    expect(plan.devices.get('b')!.target).toBeNull();
    expect(planRollback({ statuses, scope: { group: 'lab' }, to: '1.2', onlyFrom: null }).devices.get('b')!.target).toEqual({ version: '1.2', commit: null });
  });

  it('onlyFrom: a device on another version is skipped up front', () => {
    const plan = planRollback({ statuses, scope: { group: 'lab' }, to: null, onlyFrom: '1.1' });
    expect(plan.devices.get('a')!.outcome).toBe('pending');
    expect(plan.devices.get('b')).toMatchObject({ outcome: 'skipped', reason: 'runs 1.0, not 1.1' });
  });
});

describe('tracking: confirmed only once taken, back on the target and healthy', () => {
  const plan = () => planRollback({ statuses: [status('a', { booted: ['1.1', 2], rollback: ['1.0', 1] })], scope: { device: 'a' }, to: null, onlyFrom: null });

  it('staged and rebooting do not count; booted on the target and idle after taking the command does', () => {
    const p = plan();
    const t = p.devices.get('a')!;
    // The report after a reconnect, before the command came: nothing moves.
    expect(trackStatus(t, status('a', { booted: ['1.1', 2], rollback: ['1.0', 1] }), N)).toBe(false);
    expect(trackEvent(t, event('a', 'command-received', N), N)).toBe(false);
    expect(trackStatus(t, status('a', { booted: ['1.1', 2], phase: 'staged', updateId: N }), N)).toBe(false);
    expect(trackStatus(t, status('a', { booted: ['1.0', 1], phase: 'verifying', updateId: N }), N)).toBe(false);
    expect(allSettled(p)).toBe(false);
    expect(trackStatus(t, status('a', { booted: ['1.0', 1], phase: 'idle' }), N)).toBe(true);
    expect(t).toMatchObject({ outcome: 'confirmed', reason: 'back on 1.0, idle' });
    expect(countOutcomes(p)).toMatchObject({ devices: 1, confirmed: 1, pending: 0 });
  });

  it('refusals, failures and skips, from the events or the status; other commands are ignored', () => {
    const cases: [DeviceEvent, string][] = [
      [event('a', 'command-refused', N, 'below-floor: version 1.0 ...'), 'refused'],
      [event('a', 'command-refused', N, 'kid: not a trusted key'), 'refused'],
      [event('a', 'command-refused', N, 'not-on-version: only for 1.2'), 'skipped'],
      [event('a', 'command-failed', N, 'deploy failed'), 'failed'],
      [event('a', 'rolled-back', N, 'health check failed'), 'failed'],
    ];
    for (const [e, outcome] of cases) {
      const t = plan().devices.get('a')!;
      expect(trackEvent(t, event('a', 'command-failed', 'another', 'x'), N)).toBe(false);
      expect(trackEvent(t, e, N)).toBe(true);
      expect(t.outcome, e.reason!).toBe(outcome);
    }
    const t = plan().devices.get('a')!;
    trackEvent(t, event('a', 'command-received', N), N);
    expect(trackStatus(t, status('a', { booted: ['1.1', 2], phase: 'rolled-back', updateId: N, error: `update ${N}: health check failed` }), N)).toBe(true);
    expect(t).toMatchObject({ outcome: 'failed', reason: `update ${N}: health check failed` });
  });

  it("a failure is this command's: a status still showing the previous update's error waits for the device's own reason", () => {
    const t = plan().devices.get('a')!;
    trackEvent(t, event('a', 'command-received', N), N);
    // The status of the refused rollback, before the agent reported it: the last error is an older update's.
    expect(trackStatus(t, status('a', { booted: ['1.1', 2], phase: 'failed', updateId: N, error: 'update 1.1 (1.1): no space left on the device' }), N)).toBe(false);
    expect(t.outcome).toBe('pending');
    const refusal = 'rollback refused: the rollback deployment 1.0 is no longer on the disk';
    expect(trackEvent(t, event('a', 'command-failed', N, refusal), N)).toBe(true);
    expect(t).toMatchObject({ outcome: 'failed', reason: refusal });
  });

  it('a refusal that names no nonce, or another, is not taken for this command', () => {
    const t = plan().devices.get('a')!;
    // An old command the device refused as expired, or one it could not read, arriving after this one was sent.
    expect(trackEvent(t, event('a', 'command-refused', null, 'expired: signed command refused'), N)).toBe(false);
    expect(trackEvent(t, event('a', 'command-refused', 'an-older-nonce', 'expired: signed command refused'), N)).toBe(false);
    expect(trackEvent(t, event('a', 'command-refused', null, 'busy: 16 jobs are waiting'), N)).toBe(false);
    expect(t.outcome).toBe('pending');
    expect(trackEvent(t, event('a', 'command-refused', N, 'signature: signed command refused'), N)).toBe(true);
    expect(t).toMatchObject({ outcome: 'refused', reason: 'signature: signed command refused' });
  });
});

