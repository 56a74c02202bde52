import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentMachine } from '../../../device-agent/engine/machine.js';
import type { AgentRecord } from '../../../device-agent/engine/record.js';
import { StateStore } from '../../../device-agent/engine/store.js';
import { A, B, RELEASE, UNHEALTHY, recordingDevice, type RecordingDevice } from './recording-device.js';

// The releases a device rolled back from (docs/agent.md, "Skipped releases"), unit test of the table with a
// recording dependencies object (recording-device.ts).

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-machine-skip-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const C = 'c'.repeat(64);
const machineFor = (dev: RecordingDevice) => new AgentMachine({ store: new StateStore({ dir: join(dir, 'state') }), deps: dev.deps });

async function untilRest(dev: RecordingDevice, machine: AgentMachine, record: AgentRecord): Promise<AgentRecord> {
  let r = record;
  while (r.state === 'awaitingReboot') {
    await dev.boot();
    r = await machine.resume();
  }
  return r;
}

/** A device whose update to 1.1 (B) failed its checks and rolled back to A. */
async function rolledBackOnce(): Promise<{ dev: RecordingDevice; machine: AgentMachine; first: AgentRecord }> {
  const dev = await recordingDevice(dir);
  dev.health = UNHEALTHY;
  const machine = machineFor(dev);
  const first = await untilRest(dev, machine, await machine.check({ id: 'u1' }));
  expect(first.lastResult).toMatchObject({ result: 'rolled-back', reason: 'unhealthy', toCommit: B });
  return { dev, machine, first };
}

describe('skipped releases, unit test of the table with a recording dependencies object', () => {
  it('remembers the commit rolled back from, and a check of the same group release ends up to date, leaving the result', async () => {
    const { dev, machine, first } = await rolledBackOnce();
    expect(first.skippedReleases).toEqual([{ commit: B, version: '1.1', reason: 'unhealthy', at: first.lastResult!.at }]);
    const calls = dev.calls.length;
    const again = await machine.check({ id: 'u2' });
    expect(again).toMatchObject({ state: 'idle', update: null });
    // The last result still tells of the rollback: a skip is not a new result.
    expect(again.lastResult).toEqual(first.lastResult);
    expect(dev.calls.slice(calls)).toEqual(['fetchRelease']);
    const skip = dev.events.findLast((e) => e.event === 'upToDate');
    expect(skip?.message).toMatch(/1\.1 \(bbbbbbbbbbbb\) skipped: rolled back from at .* \(unhealthy\)/);
    expect(dev.events.filter((e) => e.updateId === 'u2')).toHaveLength(1);
  });

  it('deploys the same commit when a person asks for it by name (deploy), and forgets it once committed', async () => {
    const { dev, machine } = await rolledBackOnce();
    dev.health = { ...UNHEALTHY, ok: true, required: [] };
    const r = await untilRest(dev, machine, await machine.check({ id: 'deploy-1.1', intent: 'deploy', releaseJws: 'h.p.s' }));
    expect(r.lastResult).toMatchObject({ result: 'committed', toCommit: B });
    expect(r.skippedReleases).toEqual([]);
    expect(dev.booted).toBe(B);
  });

  it('tries a newer release (another commit) as usual', async () => {
    const { dev, machine } = await rolledBackOnce();
    dev.health = { ...UNHEALTHY, ok: true, required: [] };
    dev.verdict = { verdict: 'go', target: { ...RELEASE, version: '1.2', commit: C }, releaseJws: 'h.p.s' };
    dev.deps.update.deploy = async () => ((dev.deployments = [C, ...dev.deployments]), { commit: C });
    const r = await machine.check({ id: 'u3' });
    expect(r.state).toBe('awaitingReboot');
    expect(r.update).toMatchObject({ version: '1.2', toCommit: C });
    expect(r.skippedReleases.map((s) => s.commit)).toEqual([B]);
  });

  it('keeps no skip for an update cut in deploying (interrupted): the next check tries it again', async () => {
    const dev = await recordingDevice(dir);
    let kill = true;
    const machine = new AgentMachine({
      store: new StateStore({ dir: join(dir, 'state') }),
      deps: dev.deps,
      onSaved: (r) => {
        if (kill && r.state === 'deploying') throw new Error('killed');
      },
    });
    await expect(machine.check({ id: 'u1' })).rejects.toThrow('killed');
    kill = false;
    const r = await machine.resume();
    expect(r.lastResult).toMatchObject({ result: 'rolled-back', reason: 'interrupted' });
    expect(r.skippedReleases).toEqual([]);
    expect(dev.booted).toBe(A);
    expect(await machine.check({ id: 'u2' })).toMatchObject({ state: 'awaitingReboot', update: { toCommit: B } });
  });
});
