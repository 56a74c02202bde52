import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentMachine } from '../../../device-agent/engine/machine.js';
import { MAX_STATE_SAVES, type AgentRecord } from '../../../device-agent/engine/record.js';
import type { State } from '../../../device-agent/engine/states.js';
import { StateStore } from '../../../device-agent/engine/store.js';
import { A, B, UNHEALTHY, expectedChain, recordingDevice, type RecordingDevice } from './recording-device.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-machine-crash-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What the kill hook throws: the agent stops right after a save, as SIGKILL there would stop it. */
class Killed extends Error {}

interface CrashRun {
  final: AgentRecord;
  /** The state of the save after which the agent was killed (each kill once, or forever while `forever` holds). */
  killedIn: State[];
}

/**
 * Runs an update, killing the agent right after save number `killAt` (or after every save `forever` accepts),
 * then restarting it (after a boot when a reboot was asked for) until it rests in idle.
 */
async function crashRun(dev: RecordingDevice, killAt: number, forever?: (r: AgentRecord) => boolean): Promise<CrashRun> {
  let saves = 0;
  const killedIn: State[] = [];
  const onSaved = (r: AgentRecord) => {
    saves++;
    if (saves === killAt || forever?.(r) === true) {
      killedIn.push(r.state);
      throw new Killed();
    }
  };
  const machine = new AgentMachine({ store: new StateStore({ dir: join(dir, 'state') }), deps: dev.deps, onSaved });
  let step: () => Promise<AgentRecord> = () => machine.check({ id: 'u1' });
  for (let restarts = 0; restarts < 200; restarts++) {
    try {
      const r = await step();
      if (r.state === 'idle') return { final: r, killedIn };
    } catch (e) {
      if (!(e instanceof Killed)) throw e;
    }
    if (dev.rebootPending) await dev.boot();
    step = () => machine.resume();
  }
  throw new Error('the agent never came to rest');
}

const chain = (r: AgentRecord) => (r.lastResult?.log ?? []).map((e) => `${e.state}:${e.event}`);

describe('crashes at every persisted state, unit test of the table with a recording dependencies object', () => {
  it('a full update killed once after each save ends committed (or, killed in deploying, rolled back) with the exact log', async () => {
    const clean = await crashRun(await recordingDevice(join(dir)), 0);
    const cleanChain = chain(clean.final);
    const saves = cleanChain.length - 1; // the resume mark and verifying share a save; idle is one more
    expect(saves).toBe(10);
    for (let k = 1; k <= saves; k++) {
      await rm(join(dir, 'state'), { recursive: true, force: true });
      const dev = await recordingDevice(dir);
      const { final, killedIn } = await crashRun(dev, k);
      expect(killedIn).toHaveLength(1);
      const state = killedIn[0]!;
      expect(chain(final), `killed after save ${k} (${state})`).toEqual(expectedChain(cleanChain, state));
      const rolledBack = state === 'deploying';
      expect(final.lastResult).toMatchObject(rolledBack ? { result: 'rolled-back', reason: 'interrupted' } : { result: 'committed' });
      expect(dev.booted, `booted after a kill in ${state}`).toBe(rolledBack ? A : B);
      expect(dev.deployments).toEqual(rolledBack ? [A] : [B, A]);
      expect(await dev.bootloader.getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
    }
  });

  it('an update whose checks fail, killed once after each save, always ends on the previous deployment', async () => {
    for (let k = 1; k <= 18; k++) {
      await rm(join(dir, 'state'), { recursive: true, force: true });
      const dev = await recordingDevice(dir);
      dev.health = UNHEALTHY;
      const { final, killedIn } = await crashRun(dev, k);
      const reason = killedIn[0] === 'deploying' ? 'interrupted' : 'unhealthy';
      expect(final.lastResult, `killed after save ${k} (${killedIn[0] ?? 'not killed'})`).toMatchObject({ result: 'rolled-back', reason });
      expect(dev.booted).toBe(A);
      expect(dev.deployments).toEqual([A]);
      expect(await dev.bootloader.getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
    }
  });

  it('an agent killed forever while verifying the new deployment is ended by the loop breaker: rolled back, reason state-loop', async () => {
    const dev = await recordingDevice(dir);
    const { final, killedIn } = await crashRun(dev, 0, (r) => r.state === 'verifying' && dev.booted === B);
    expect(killedIn.length).toBeGreaterThan(20);
    const log = chain(final);
    expect(log).toContain('rollingBack:stateLoop');
    expect(log.slice(log.indexOf('rollingBack:stateLoop'))).toEqual([
      'rollingBack:stateLoop', 'rebooting:rollbackRebootNeeded', 'awaitingReboot:rebootRequested', 'awaitingReboot:resume',
      'verifying:booted', 'rollingBack:fellBack', 'reporting:rolledBack', 'idle:reported',
    ]);
    expect(final.lastResult).toMatchObject({ result: 'rolled-back', reason: 'state-loop' });
    expect(dev.booted).toBe(A);
    expect(dev.deployments).toEqual([A]);
    expect(await dev.bootloader.getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
  });

  it('an agent killed forever after every save gives up in idle with a failed result, on a deployment that was good before', async () => {
    const dev = await recordingDevice(dir);
    const { final } = await crashRun(dev, 0, (r) => r.state !== 'idle');
    expect(final.lastResult?.result).toBe('failed');
    expect(final.lastResult?.reason).toMatch(/^state-loop/);
    expect(dev.booted).toBe(A);
    expect(final.lastResult?.log.length).toBeGreaterThan(MAX_STATE_SAVES);
  });
});
