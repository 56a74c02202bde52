import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { AgentMachine } from '../../../device-agent/engine/machine.js';
import type { AgentRecord } from '../../../device-agent/engine/record.js';
import { StateStore } from '../../../device-agent/engine/store.js';
import { A, B, DEADLINE, RELEASE, UNHEALTHY, recordingDevice, type RecordingDevice } from './recording-device.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-machine-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const machineFor = (dev: RecordingDevice) => new AgentMachine({ store: new StateStore({ dir: join(dir, 'state') }), deps: dev.deps });

/** Boots when a reboot is pending and restarts the agent, until it rests somewhere other than awaitingReboot. */
async function untilRest(dev: RecordingDevice, machine: AgentMachine, record: AgentRecord): Promise<AgentRecord> {
  let r = record;
  while (r.state === 'awaitingReboot') {
    await dev.boot();
    r = await machine.resume();
  }
  return r;
}

/** The update's log as `state:event` pairs, from the last result. */
const chain = (r: AgentRecord) => (r.lastResult?.log ?? []).map((e) => `${e.state}:${e.event}`);

describe('the machine, unit test of the table with a recording dependencies object', () => {
  it('runs a full update: the new deployment boots, passes its checks and is committed', async () => {
    const dev = await recordingDevice(dir);
    const machine = machineFor(dev);
    const r = await untilRest(dev, machine, await machine.check({ id: 'u1' }));
    expect(chain(r)).toEqual([
      'checking:begin', 'downloading:updateAvailable', 'arming:downloaded', 'deploying:armed', 'rebooting:deployed',
      'awaitingReboot:rebootRequested', 'awaitingReboot:resume', 'verifying:booted', 'committing:healthy', 'reporting:committed', 'idle:reported',
    ]);
    expect(r.lastResult).toMatchObject({ result: 'committed', reason: null, fromCommit: A, toCommit: B, version: '1.1' });
    expect(dev.calls).toEqual(['fetchRelease', 'download', 'deploy', 'reboot', 'boot b', 'health', 'prune', 'cleanDownloads all']);
    expect(dev.booted).toBe(B);
    expect(await dev.bootloader.getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
  });

  it('rolls back when a required check fails: reboot into the previous deployment, undeploy, clear the flag', async () => {
    const dev = await recordingDevice(dir);
    dev.health = UNHEALTHY;
    const machine = machineFor(dev);
    const r = await untilRest(dev, machine, await machine.check({ id: 'u1' }));
    expect(chain(r).slice(6)).toEqual([
      'awaitingReboot:resume', 'verifying:booted', 'rollingBack:unhealthy', 'rebooting:rollbackRebootNeeded', 'awaitingReboot:rebootRequested',
      'awaitingReboot:resume', 'verifying:booted', 'rollingBack:fellBack', 'reporting:rolledBack', 'idle:reported',
    ]);
    expect(r.lastResult).toMatchObject({ result: 'rolled-back', reason: 'unhealthy' });
    expect(r.lastResult?.log.find((e) => e.event === 'unhealthy')?.detail).toContain('unit:app.service failed');
    expect(dev.calls.slice(3)).toEqual(['reboot', 'boot b', 'health', 'reboot', 'boot a', 'undeploy b', 'renderBootConfig', 'cleanDownloads all']);
    expect(dev.booted).toBe(A);
    expect(dev.deployments).toEqual([A]);
    expect(await dev.bootloader.getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
  });

  it('names a passed deadline as the reason', async () => {
    const dev = await recordingDevice(dir);
    dev.health = DEADLINE;
    const machine = machineFor(dev);
    const r = await untilRest(dev, machine, await machine.check({ id: 'u1' }));
    expect(r.lastResult).toMatchObject({ result: 'rolled-back', reason: 'deadline' });
    expect(dev.booted).toBe(A);
  });

  it('detects and reports the bootloader falling back from a kernel that never boots', async () => {
    const dev = await recordingDevice(dir);
    dev.panics = B;
    const machine = machineFor(dev);
    const r = await untilRest(dev, machine, await machine.check({ id: 'u1' }));
    expect(dev.calls.filter((c) => c.startsWith('boot'))).toEqual(['boot b', 'boot b', 'boot b', 'boot a']);
    expect(chain(r).slice(6)).toEqual(['awaitingReboot:resume', 'verifying:booted', 'rollingBack:fellBack', 'reporting:rolledBack', 'idle:reported']);
    expect(r.lastResult).toMatchObject({ result: 'rolled-back', reason: 'bootloader-fallback' });
    expect(r.lastResult?.log.find((e) => e.event === 'fellBack')?.detail).toContain('bootcount 4, bootlimit 3');
    expect(dev.calls).not.toContain('health');
    expect(dev.deployments).toEqual([A]);
    expect(await dev.bootloader.getState()).toMatchObject({ upgradeAvailable: false, rollback: false });
  });

  it('refuses a release for another board without touching anything, and reports why', async () => {
    const dev = await recordingDevice(dir);
    dev.verdict = { verdict: 'refused', reason: 'release gateway/stable 1.1 is for board rpi4, this device is qemu-arm64' };
    const r = await machineFor(dev).check({ id: 'u1' });
    expect(chain(r)).toEqual(['checking:begin', 'reporting:refused', 'idle:reported']);
    expect(r.lastResult).toMatchObject({ result: 'refused', reason: dev.verdict.reason });
    expect(dev.calls).toEqual(['fetchRelease', 'cleanDownloads all']);
    expect(await dev.bootloader.getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
  });

  it('leaves nothing behind when the release is already running', async () => {
    const dev = await recordingDevice(dir);
    dev.verdict = { verdict: 'upToDate', target: RELEASE };
    const r = await machineFor(dev).check({ id: 'u1' });
    expect(r).toMatchObject({ state: 'idle', update: null, lastResult: null });
  });

  it('downloads now and applies later, on the apply event', async () => {
    const dev = await recordingDevice(dir);
    const machine = machineFor(dev);
    const waiting = await machine.check({ id: 'u1', downloadOnly: true });
    expect(waiting.state).toBe('downloaded');
    expect(dev.calls).toEqual(['fetchRelease', 'download']);
    expect(await machine.resume()).toMatchObject({ state: 'downloaded' });
    await expect(machine.check({ id: 'u2' })).rejects.toThrow(OtaError);
    const r = await untilRest(dev, machine, await machine.apply());
    expect(r.lastResult?.result).toBe('committed');
    expect(chain(r).slice(2, 4)).toEqual(['downloaded:applyLater', 'arming:apply']);
  });

  it('waits outside the maintenance window', async () => {
    const dev = await recordingDevice(dir, { mayApply: false });
    expect((await machineFor(dev).check({ id: 'u1' })).state).toBe('downloaded');
  });

  it('with reboot: manual, rests armed without rebooting; the next boot verifies', async () => {
    const dev = await recordingDevice(dir, { reboot: 'manual' });
    const machine = machineFor(dev);
    const r = await machine.check({ id: 'u1' });
    expect(r.state).toBe('awaitingReboot');
    expect(dev.calls).not.toContain('reboot');
    expect((await dev.bootloader.getState()).upgradeAvailable).toBe(true);
    // the agent restarted without a reboot: verifying sees the old deployment and waits again
    const again = await machine.resume();
    expect(again.state).toBe('awaitingReboot');
    expect(again.update?.log.slice(-4).map((e) => `${e.state}:${e.event}`)).toEqual(['awaitingReboot:resume', 'verifying:booted', 'rebooting:notRebooted', 'awaitingReboot:rebootDeferred']);
    const done = await untilRest(dev, machine, again);
    expect(done.lastResult?.result).toBe('committed');
    expect(dev.booted).toBe(B);
  });

  it('raises the floor on commit to the release minVersion, and gives preflight the floor and the running commit', async () => {
    const dev = await recordingDevice(dir);
    dev.verdict = { verdict: 'go', target: { ...RELEASE, minVersion: '1.0' }, releaseJws: 'from-preflight' };
    const machine = machineFor(dev);
    const r = await untilRest(dev, machine, await machine.check({ id: 'u1' }));
    expect(r.floor).toBe('1.0');
    expect(r.lastResult?.log.find((e) => e.event === 'committed')?.detail).toBe('floor 1.0');
    expect(dev.targets).toEqual([{ intent: 'upgrade', releaseJws: 'header.payload-1.1.signature', bundlePath: null, belowFloor: false, floor: null, fromCommit: A, toCommit: null }]);
    dev.verdict = { verdict: 'upToDate', target: RELEASE };
    await machine.check({ id: 'u2' });
    expect(dev.targets[1]).toMatchObject({ floor: '1.0', fromCommit: B });
    // and it is on disk, for the next start
    expect((await new StateStore({ dir: join(dir, 'state') }).load()).floor).toBe('1.0');
  });

  it('commits, and reports a refusal, even when download leftovers cannot be removed: a warning, nothing more', async () => {
    const dev = await recordingDevice(dir);
    dev.deps.update.cleanDownloads = () => Promise.reject(new Error('EACCES: permission denied, rmdir'));
    const machine = machineFor(dev);
    const r = await untilRest(dev, machine, await machine.check({ id: 'u1' }));
    expect(r.lastResult?.result).toBe('committed');
    expect(dev.booted).toBe(B);
    dev.verdict = { verdict: 'refused', reason: 'update refused (arch): not for this device' };
    expect((await machine.check({ id: 'u2' })).lastResult?.result).toBe('refused');
    expect(dev.events.filter((e) => e.level === 'warning' && e.message.includes('leftovers')).map((e) => `${e.state}:${e.event}`)).toEqual(['reporting:committed', 'idle:reported']);
  });

  it('commits when prune fails after markGood: a warning in the log, never a rollback', async () => {
    const dev = await recordingDevice(dir);
    dev.deps.update.prune = () => Promise.reject(new Error('ostree admin undeploy: Device or resource busy'));
    const machine = machineFor(dev);
    const r = await untilRest(dev, machine, await machine.check({ id: 'u1' }));
    expect(r.lastResult).toMatchObject({ result: 'committed', reason: null, toCommit: B });
    expect(r.lastResult?.log.find((e) => e.event === 'committed')?.detail).toMatch(/^warning: could not prune old deployments: .*busy/);
    expect(chain(r).slice(-3)).toEqual(['committing:healthy', 'reporting:committed', 'idle:reported']);
    expect(dev.booted).toBe(B);
    expect(dev.deployments).toEqual([B, A]);
    expect(dev.calls).not.toContain('undeploy b');
    expect(await dev.bootloader.getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
    expect(dev.events.filter((e) => e.level === 'warning').map((e) => e.message)).toEqual([expect.stringContaining('could not prune')]);
  });

  it('commits when only a wanted check fails: a warning in the events and the log', async () => {
    const dev = await recordingDevice(dir);
    dev.health = { ...dev.health, wanted: [{ name: 'wanted.d/50-sensors', status: 'failed', detail: 'exit 3: no sensor on i2c-1' }] };
    const machine = machineFor(dev);
    const r = await untilRest(dev, machine, await machine.check({ id: 'u1' }));
    expect(r.lastResult).toMatchObject({ result: 'committed', reason: null });
    expect(r.lastResult?.log.find((e) => e.event === 'healthy')?.detail).toBe('warning: wanted checks failed: wanted.d/50-sensors failed: exit 3: no sensor on i2c-1');
    expect(dev.events.filter((e) => e.level === 'warning').map((e) => `${e.state}:${e.event}`)).toEqual(['committing:healthy']);
  });

  it('refuses apply when nothing waits, and check while an update is in progress', async () => {
    const dev = await recordingDevice(dir);
    const machine = machineFor(dev);
    await expect(machine.apply()).rejects.toMatchObject({ code: 'ERR_OTA_STATE' });
    await machine.check({ id: 'u1' });
    await expect(machine.check({ id: 'u2' })).rejects.toMatchObject({ code: 'ERR_OTA_STATE', message: expect.stringContaining('u1') });
  });
});
