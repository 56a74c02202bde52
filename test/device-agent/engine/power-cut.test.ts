import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentDeps } from '../../../device-agent/engine/deps.js';
import { AgentMachine } from '../../../device-agent/engine/machine.js';
import type { AgentRecord, BeginOptions } from '../../../device-agent/engine/record.js';
import { StateStore } from '../../../device-agent/engine/store.js';
import { A, B, UNHEALTHY, committedOnB, recordingDevice, type RecordingDevice } from './recording-device.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-power-cut-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

class PowerCut extends Error {}

/**
 * The device's dependencies with the power cut just before side effect number `cutAt` (counted from 1). The
 * handler would turn the thrown cut into a `failed` event, so from the cut on the power stays off for this
 * run: the store writes nothing more (`off()` is checked by the test's store before each save).
 */
function cutBefore(deps: AgentDeps, cutAt: number): { deps: AgentDeps; steps: () => number; off: () => boolean; on: () => void } {
  let steps = 0;
  let off = false;
  const step = <T extends unknown[], R>(fn: (...args: T) => Promise<R>) => async (...args: T): Promise<R> => {
    if (off || ++steps === cutAt) {
      off = true;
      throw new PowerCut();
    }
    return fn(...args);
  };
  return {
    steps: () => steps,
    off: () => off,
    on: () => void (off = false),
    deps: {
      ...deps,
      sysroot: { ...deps.sysroot, setDefault: step(deps.sysroot.setDefault), undeploy: step(deps.sysroot.undeploy) },
      bootloader: { ...deps.bootloader, setState: step(deps.bootloader.setState) },
      update: { ...deps.update, download: step(deps.update.download), deploy: step(deps.update.deploy), renderBootConfig: step(deps.update.renderBootConfig), prune: step(deps.update.prune) },
      reboot: step(deps.reboot),
    },
  };
}

/** Runs an update with a power cut before side effect `cutAt`: the cut stops the agent and boots the device. */
async function withPowerCut(dev: RecordingDevice, cutAt: number, begin: Omit<BeginOptions, 'at'> = { id: 'u1' }): Promise<{ final: AgentRecord; steps: number; cut: boolean }> {
  const { deps, steps, off, on } = cutBefore(dev.deps, cutAt);
  const real = new StateStore({ dir: join(dir, 'state') });
  const store = {
    load: () => real.load(),
    lock: () => real.lock(),
    removeLeftovers: () => real.removeLeftovers(),
    save: (r: AgentRecord, at: Date) => (off() ? Promise.reject(new PowerCut()) : real.save(r, at)),
  };
  const machine = new AgentMachine({ store, deps });
  let cut = false;
  let step: () => Promise<AgentRecord> = () => machine.check(begin);
  for (let i = 0; i < 50; i++) {
    try {
      const r = await step();
      if (r.state === 'idle') return { final: r, steps: steps(), cut };
      if (r.state !== 'awaitingReboot') throw new Error(`rests in ${r.state}`);
      await dev.boot();
    } catch (e) {
      if (!(e instanceof PowerCut)) throw e;
      cut = true;
      on();
      await dev.boot();
    }
    step = () => machine.resume();
  }
  throw new Error('the agent never came to rest');
}

async function expectConsistent(dev: RecordingDevice, final: AgentRecord, what: string): Promise<void> {
  const result = final.lastResult?.result;
  expect(['committed', 'rolled-back'], what).toContain(result);
  expect(dev.booted, what).toBe(result === 'committed' ? B : A);
  expect(dev.deployments, what).toEqual(result === 'committed' ? [B, A] : [A]);
  expect(await dev.bootloader.getState(), what).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
}

/** Records, at each deploy, whether the bootloader counts boots: a deployment may boot as soon as it is written. */
function armedAtDeploy(dev: RecordingDevice): boolean[] {
  const seen: boolean[] = [];
  const deploy = dev.deps.update.deploy;
  dev.deps.update.deploy = async (t) => {
    seen.push((await dev.bootloader.getState()).upgradeAvailable);
    return deploy(t);
  };
  return seen;
}

describe('a power cut before any side effect (unit test of the table with recording dependencies; the cut boots the device)', () => {
  it('a full update ends committed on B or rolled back on A, never anything else', async () => {
    const clean = await withPowerCut(await recordingDevice(dir), 0);
    expect(clean.final.lastResult?.result).toBe('committed');
    for (let k = 1; k <= clean.steps; k++) {
      await rm(join(dir, 'state'), { recursive: true, force: true });
      const dev = await recordingDevice(dir);
      const armed = armedAtDeploy(dev);
      const { final, cut } = await withPowerCut(dev, k);
      expect(cut).toBe(true);
      await expectConsistent(dev, final, `power cut before side effect ${k}`);
      expect(armed.every(Boolean), `the counter armed at every deploy (cut before side effect ${k})`).toBe(true);
    }
  });

  it('an update whose checks fail always ends rolled back on A', async () => {
    const clean = await withPowerCut(Object.assign(await recordingDevice(dir), { health: UNHEALTHY }), 0);
    expect(clean.final.lastResult?.result).toBe('rolled-back');
    for (let k = 1; k <= clean.steps; k++) {
      await rm(join(dir, 'state'), { recursive: true, force: true });
      const dev = await recordingDevice(dir);
      dev.health = UNHEALTHY;
      const { final } = await withPowerCut(dev, k);
      await expectConsistent(dev, final, `power cut before side effect ${k}`);
      expect(final.lastResult?.result).toBe('rolled-back');
    }
  });

  it('a rollback to the deployment after the booted one ends on it, or back on the booted one, both kept', async () => {
    const rollback = { id: 'rollback-1', intent: 'rollback' } as const;
    const clean = await withPowerCut(committedOnB(await recordingDevice(dir)), 0, rollback);
    expect(clean.final.lastResult?.result).toBe('committed');
    for (let k = 1; k <= clean.steps; k++) {
      await rm(join(dir, 'state'), { recursive: true, force: true });
      const dev = committedOnB(await recordingDevice(dir));
      const armed = armedAtDeploy(dev);
      const { final } = await withPowerCut(dev, k, rollback);
      const what = `power cut before side effect ${k}`;
      const result = final.lastResult?.result;
      expect(['committed', 'rolled-back'], what).toContain(result);
      expect(dev.booted, what).toBe(result === 'committed' ? A : B);
      expect(dev.deployments, what).toEqual(result === 'committed' ? [A, B] : [B, A]);
      expect(await dev.bootloader.getState(), what).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
      expect(armed.every(Boolean), what).toBe(true);
    }
  });
});
