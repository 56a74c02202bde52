import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inWave, rolloutBucket } from '../../../contract/index.js';
import { parseBody, groupBody, rollbackActions } from '../../../host-tools/dashboard/actions.js';
import { applyDashboardMessage, newDashboardModel } from '../../../host-tools/dashboard/model.js';
import { newRolloutTracker, rolloutView } from '../../../host-tools/dashboard/rollouts.js';
import { saveRolloutState, type RolloutControl } from '../../../host-tools/fleet/rollout-state.js';
import { statusOf } from '../../helpers/fleet-devices.js';
import { ROLLOUT_T0, rolloutControl } from '../../helpers/rollout-control.js';

const T0 = ROLLOUT_T0;
const state = (o: Partial<RolloutControl> = {}): RolloutControl =>
  rolloutControl({ id: 'r-view', waves: [2000, 10_000], maxFailureBasisPoints: 1000, ...o });

const ids = Array.from({ length: 40 }, (_, i) => `gw-${String(i).padStart(2, '0')}`);
const first = ids.filter((d) => inWave(rolloutBucket('r-view', d), 2000));

/** A model of the 40 devices (contract-built statuses): the first wave's first device failed, the rest of it succeeded. */
function model() {
  const m = newDashboardModel('ota');
  for (const d of ids) {
    const s = d === first[0] ? statusOf(d, { phase: 'failed', updateId: '1.1' }) : first.includes(d) ? statusOf(d, { booted: '1.1' }) : statusOf(d);
    applyDashboardMessage(m, `ota/devices/${d}/status`, Buffer.from(JSON.stringify(s)), 0);
  }
  return m;
}

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the rollouts page's view (the controller's state, contract-built statuses)", () => {
  it("counts the started waves with the controller's buckets and says when failures pass the limit", () => {
    expect(first.length).toBeGreaterThan(1);
    const v = rolloutView('lab.json', state(), model().fleet, []);
    expect(v.devices).toBe(40);
    expect(v.waves[0]).toMatchObject({ started: true, current: true, expected: first.length, succeeded: first.length - 1, failed: 1, failedDevices: [first[0]], overLimit: 1 / first.length > 0.1 });
    expect(v.waves[1]).toMatchObject({ started: false, expected: 0 });
  });

  it('reads a state folder, records a timeline point per change, and names a file it cannot read', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-dashboard-rollouts-'));
    await mkdir(dir, { recursive: true });
    await saveRolloutState(join(dir, 'lab.json'), state());
    await writeFile(join(dir, 'broken.json'), '{"not": "a state"}');
    const m = model();
    const tracker = newRolloutTracker(dir);
    expect(await tracker.refresh(m.fleet, new Date(T0), 1)).toBe(true);
    // Nothing changed: no recount, nothing to send.
    expect(await tracker.refresh(m.fleet, new Date(T0), 1)).toBe(false);
    const [broken, lab] = tracker.view();
    expect(broken).toMatchObject({ file: 'broken.json', problem: expect.stringMatching(/not a rollout state/) });
    expect(lab).toMatchObject({ group: 'lab', timeline: [{ wave: 0, failed: 1, succeeded: first.length - 1 }] });
    expect(tracker.statePath('lab')).toBe(join(dir, 'lab.json'));
  });
});

describe("the dashboard's actions", () => {
  it('take only the body their schema allows', () => {
    expect(parseBody(groupBody, { group: 'lab' })).toEqual({ group: 'lab' });
    for (const bad of [{ group: 'lab', extra: 1 }, { group: 'a/b' }, { group: '' }, null, 'lab']) expect(() => parseBody(groupBody, bad)).toThrow(/body is refused/);
  });

  it('refuse to act without a signing key, and say how to give one', async () => {
    const actions = rollbackActions({ broker: { url: 'mqtt://127.0.0.1:1' }, prefix: 'ota' });
    await expect(actions['rollback-group']!({ group: 'lab' })).rejects.toThrow(/started without --signing-key/);
  });
});
