import type { RolloutControl } from '../../host-tools/fleet/rollout-state.js';

export const ROLLOUT_T0 = '2026-03-01T12:00:00.000Z';

/**
 * A controller's rollout state, running wave 0 of release 1.1 to group lab since ROLLOUT_T0: each test overrides
 * what it is about (id, waves, failure rate, prefix, phase).
 */
export function rolloutControl(o: Partial<RolloutControl> = {}): RolloutControl {
  return {
    apiVersion: 'deb-ota/v1',
    kind: 'RolloutControl',
    id: 'r-test',
    group: 'lab',
    prefix: 'ota',
    release: { file: '/p/1.1.jws', version: '1.1', commit: 'c'.repeat(64), sha256: 'd'.repeat(64) },
    waves: [1000, 10_000],
    soakSeconds: 0,
    maxFailureBasisPoints: 500,
    minDevices: 1,
    startedAt: ROLLOUT_T0,
    phase: 'running',
    reason: null,
    wave: { index: 0, startedAt: ROLLOUT_T0, soakStartedAt: null },
    lastIssuedAt: 0,
    failedDevices: [],
    excused: [],
    ...o,
  };
}
