import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentMachine } from '../../../device-agent/engine/machine.js';
import { LOOP_ROLLBACK_SAVES, MAX_STATE_SAVES, countSave, type AgentRecord } from '../../../device-agent/engine/record.js';
import { repairPlan } from '../../../device-agent/engine/repair.js';
import { StateStore } from '../../../device-agent/engine/store.js';
import { A, B, recordingDevice, type RecordingDevice } from './recording-device.js';

// The repair on start (docs/agent.md, "Repair on start"), unit test of the table with a recording
// dependencies object (recording-device.ts): the loop breaker gave up while the bootloader was armed for B.

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-machine-repair-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const CLEAR = { bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 };
const chain = (r: AgentRecord) => (r.lastResult?.log ?? []).map((e) => `${e.state}:${e.event}`);

/** An update of B deployed and armed, rebooted into, then the loop breaker giving up (what a crash loop on B leaves). */
async function gaveUpOnB(): Promise<{ dev: RecordingDevice; machine: AgentMachine; store: StateStore; gaveUp: AgentRecord }> {
  const dev = await recordingDevice(dir);
  const store = new StateStore({ dir: join(dir, 'state') });
  const machine = new AgentMachine({ store, deps: dev.deps });
  const armed = await machine.check({ id: 'u1' });
  expect(armed.state).toBe('awaitingReboot');
  await dev.boot();
  const looping: AgentRecord = { ...armed, state: 'rollingBack', update: { ...armed.update!, saves: MAX_STATE_SAVES + LOOP_ROLLBACK_SAVES, rollbackReason: 'state-loop' } };
  const gaveUp = await store.save(countSave(looping, new Date()), new Date());
  expect(gaveUp).toMatchObject({ state: 'idle', update: null, lastResult: { result: 'failed', toCommit: B } });
  return { dev, machine, store, gaveUp };
}

describe('repair on start, unit test of the table with a recording dependencies object', () => {
  it('after the bootloader fell back to A: B removed, A the default, the flags cleared, and the result says so', async () => {
    const { dev, machine } = await gaveUpOnB();
    expect(dev.booted).toBe(B);
    // B's agent dies at every start: the counter runs out and the bootloader falls back to A.
    dev.panics = B;
    expect(await dev.boot()).toBe(A);
    expect(await dev.bootloader.getState()).toMatchObject({ rollback: true });
    const calls = dev.calls.length;
    const r = await machine.resume();
    expect(chain(r)).toEqual(['rollingBack:repair', 'reporting:rolledBack', 'idle:reported']);
    expect(r.lastResult).toMatchObject({ result: 'rolled-back', reason: 'bootloader-fallback', fromCommit: A, toCommit: B, version: '1.1' });
    expect(r.lastResult!.log[0]!.detail).toMatch(/rollback flag set while no update runs after update u1 \(1\.1\) failed: aaaaaaaaaaaa runs/);
    expect(r.lastResult!.id).toMatch(/^repair-\d+$/);
    expect(dev.calls.slice(calls)).toEqual(['undeploy b', 'renderBootConfig', 'cleanDownloads all']);
    expect(dev.deployments).toEqual([A]);
    expect(await dev.bootloader.getState()).toEqual(CLEAR);
    expect(r.skippedReleases.map((s) => s.commit)).toEqual([B]);
    // Repaired once: the next start rests.
    expect(await machine.resume()).toEqual(r);
    expect(await dev.boot()).toBe(A);
  });

  it('leaves the failed update running armed to the bootloader: not marked good, nothing changed', async () => {
    const { dev, machine, gaveUp } = await gaveUpOnB();
    const calls = dev.calls.length;
    const state = await dev.bootloader.getState();
    expect(state.upgradeAvailable).toBe(true);
    expect(await machine.resume()).toEqual(gaveUp);
    expect(dev.calls.slice(calls)).toEqual([]);
    expect(await dev.bootloader.getState()).toEqual(state);
  });

  it('decides from the record, the flags and what runs (repairPlan)', async () => {
    const { gaveUp } = await gaveUpOnB();
    const armed = { ...CLEAR, upgradeAvailable: true, bootcount: 1 };
    expect(repairPlan(gaveUp, CLEAR, A)).toBeNull();
    expect(repairPlan(gaveUp, armed, B)).toBeNull();
    expect(repairPlan(gaveUp, { ...CLEAR, rollback: true }, null)).toBeNull();
    expect(repairPlan({ ...gaveUp, state: 'downloaded' }, armed, A)).toBeNull();
    // Armed, but the previous deployment runs (the loop breaker gave up before the reboot): B goes.
    expect(repairPlan(gaveUp, armed, A)).toMatchObject({ fromCommit: A, toCommit: B, reason: 'failed' });
    // No failed update known: only the flags and the default.
    expect(repairPlan({ ...gaveUp, lastResult: null }, armed, A)).toMatchObject({ fromCommit: A, toCommit: null });
  });
});
