import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentMachine } from '../../../device-agent/engine/machine.js';
import type { AgentRecord, BeginOptions } from '../../../device-agent/engine/record.js';
import type { State } from '../../../device-agent/engine/states.js';
import { StateStore } from '../../../device-agent/engine/store.js';
import { A, B, JWS, RELEASE, UNHEALTHY, committedOnB, expectedChain, recordingDevice, type RecordingDevice } from './recording-device.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-machine-intents-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

class Killed extends Error {}

/** Runs one update to rest, killing the agent right after save `killAt` (0: never), booting when a reboot was asked for. */
async function runKilled(dev: RecordingDevice, begin: Omit<BeginOptions, 'at'>, killAt = 0): Promise<{ final: AgentRecord; killedIn: State | null }> {
  let saves = 0;
  let killedIn: State | null = null;
  const onSaved = (r: AgentRecord) => {
    if (++saves !== killAt) return;
    killedIn = r.state;
    throw new Killed();
  };
  const machine = new AgentMachine({ store: new StateStore({ dir: join(dir, 'state') }), deps: dev.deps, onSaved });
  let step: () => Promise<AgentRecord> = () => machine.check(begin);
  for (let restarts = 0; restarts < 50; restarts++) {
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
const CLEAR = { bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 };

describe('intents, unit test of the table with a recording dependencies object', () => {
  it('rollback: the deployment after the booted one becomes the default, boots, passes its checks and is committed', async () => {
    const dev = committedOnB(await recordingDevice(dir));
    const { final } = await runKilled(dev, { id: 'rollback-1', intent: 'rollback' });
    expect(dev.targets[0]).toEqual({ intent: 'rollback', releaseJws: null, bundlePath: null, belowFloor: false, floor: null, fromCommit: B, toCommit: null });
    expect(chain(final)).toEqual([
      'checking:begin', 'downloading:updateAvailable', 'arming:downloaded', 'deploying:armed', 'rebooting:deployed',
      'awaitingReboot:rebootRequested', 'awaitingReboot:resume', 'verifying:booted', 'committing:healthy', 'reporting:committed', 'idle:reported',
    ]);
    expect(final.lastResult).toMatchObject({ result: 'committed', fromCommit: B, toCommit: A, version: '1.0' });
    expect(dev.calls).toEqual(['download', 'deploy', 'reboot', 'boot a', 'health', 'prune', 'cleanDownloads all']);
    expect(dev.booted).toBe(A);
    expect(dev.deployments).toEqual([A, B]);
    expect(await dev.bootloader.getState()).toEqual(CLEAR);
  });

  it('rollback whose target fails its checks: back on the booted deployment, and neither deployment removed', async () => {
    const dev = committedOnB(await recordingDevice(dir));
    dev.health = UNHEALTHY;
    const { final } = await runKilled(dev, { id: 'rollback-1', intent: 'rollback', belowFloor: true });
    expect(dev.targets[0]?.belowFloor).toBe(true);
    expect(final.lastResult).toMatchObject({ result: 'rolled-back', reason: 'unhealthy' });
    expect(dev.calls.filter((c) => c.startsWith('undeploy'))).toEqual([]);
    expect(dev.calls).toContain('setDefault b');
    expect(dev.booted).toBe(B);
    expect(dev.deployments).toEqual([B, A]);
    expect(await dev.bootloader.getState()).toEqual(CLEAR);
  });

  it('rollback killed once after each save ends on A (or, killed in deploying, back on B) with both deployments kept', async () => {
    const clean = chain((await runKilled(committedOnB(await recordingDevice(dir)), { id: 'rollback-1', intent: 'rollback' })).final);
    for (let k = 1; k < clean.length; k++) {
      await rm(join(dir, 'state'), { recursive: true, force: true });
      const dev = committedOnB(await recordingDevice(dir));
      const { final, killedIn } = await runKilled(dev, { id: 'rollback-1', intent: 'rollback' }, k);
      const what = `killed after save ${k} (${killedIn ?? 'not killed'})`;
      expect(chain(final), what).toEqual(expectedChain(clean, killedIn!));
      const back = killedIn === 'deploying';
      expect(final.lastResult, what).toMatchObject(back ? { result: 'rolled-back', reason: 'interrupted' } : { result: 'committed' });
      expect(dev.booted, what).toBe(back ? B : A);
      expect(dev.deployments, what).toEqual(back ? [B, A] : [A, B]);
      expect(await dev.bootloader.getState(), what).toEqual(CLEAR);
    }
  });

  it('rollback with no deployment to go to is refused, changing nothing', async () => {
    const dev = await recordingDevice(dir);
    dev.verdict = { verdict: 'refused', reason: 'update refused (no-rollback): no deployment to roll back to' };
    const { final } = await runKilled(dev, { id: 'rollback-1', intent: 'rollback' });
    expect(final.lastResult).toMatchObject({ result: 'refused', reason: dev.verdict.reason });
    expect(dev.calls).toEqual(['cleanDownloads all']);
    expect(dev.deployments).toEqual([A]);
  });

  it('deploy and install start from the release they began with: nothing fetched from the group', async () => {
    for (const begin of [{ id: 'deploy-1.1', intent: 'deploy', releaseJws: 'h.p.deploy' }, { id: 'install-1.1', intent: 'install', releaseJws: 'h.p.install', bundlePath: '/media/u.otab' }] as const) {
      await rm(join(dir, 'state'), { recursive: true, force: true });
      const dev = await recordingDevice(dir);
      dev.verdict = { verdict: 'go', target: RELEASE, releaseJws: begin.releaseJws };
      const { final } = await runKilled(dev, begin);
      expect(final.lastResult, begin.intent).toMatchObject({ result: 'committed', toCommit: B });
      expect(dev.calls, begin.intent).not.toContain('fetchRelease');
      expect(dev.targets[0], begin.intent).toMatchObject({ intent: begin.intent, releaseJws: begin.releaseJws, bundlePath: 'bundlePath' in begin ? begin.bundlePath : null });
    }
  });

  it('deploy VERSION of the rollback deployment\'s commit, failing its checks: only the deployment it wrote is removed', async () => {
    const dev = await recordingDevice(dir);
    dev.deployments = [A, B]; // A runs, B (the version asked for) is its rollback already
    dev.health = UNHEALTHY;
    const { final } = await runKilled(dev, { id: 'deploy-1.1', intent: 'deploy', releaseJws: JWS });
    expect(final.lastResult).toMatchObject({ result: 'rolled-back', reason: 'unhealthy' });
    expect(dev.calls.filter((c) => c.startsWith('undeploy'))).toEqual(['undeploy b']);
    expect(dev.booted).toBe(A);
    expect(dev.deployments).toEqual([A, B]);
    expect(await dev.bootloader.getState()).toEqual(CLEAR);
  });

  it('an upgrade begun with a release (an announcement) does not fetch the group release either', async () => {
    const dev = await recordingDevice(dir);
    await runKilled(dev, { id: 'u1', releaseJws: JWS });
    expect(dev.calls).not.toContain('fetchRelease');
  });
});
