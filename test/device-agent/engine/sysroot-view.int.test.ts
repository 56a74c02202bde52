import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { armForUpgrade, nextBoot, ubootBackend, type BootloaderBackend } from '../../../bootloader/index.js';
import type { AgentDeps, HealthView } from '../../../device-agent/engine/deps.js';
import { AgentMachine } from '../../../device-agent/engine/machine.js';
import { applyTransition, beginUpdate, initialRecord, type AgentRecord } from '../../../device-agent/engine/record.js';
import type { AgentEvent } from '../../../device-agent/engine/states.js';
import { StateStore } from '../../../device-agent/engine/store.js';
import { sysrootView } from '../../../device-agent/engine/sysroot-view.js';
import { nextState } from '../../../device-agent/engine/transitions.js';
import { prune, updateSteps } from '../../../device-agent/update/index.js';
import { Sysroot } from '../../../node-ostree/index.js';
import { makeTwoDeploymentSysroot } from '../../bootloader/ostree-sysroot.js';
import { ostree, removeTree } from '../../helpers/ostree-cli.js';
import { HEALTHY, UNHEALTHY } from './recording-device.js';

let tmp: string;
let sr: Sysroot;
let path: string;
let A: string;
let B: string;
let bl: BootloaderBackend;
/** The stand-in reboot's record: the commit the boot script chose at the last boot. */
let booted: string;
let reboots: number;

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-engine-sysroot-'));
  ({ sysroot: path } = await makeTwoDeploymentSysroot(tmp));
  sr = await Sysroot.open(path);
  await sr.load();
  [B, A] = sr.deployments().map((d) => d.checksum) as [string, string];
  const envPath = join(tmp, 'ota.env');
  await writeFile(envPath, 'bootcount=0\nbootlimit=3\nrollback=0\nupgrade_available=0\n');
  bl = ubootBackend({ envPath });
  reboots = 0;
});
afterEach(async () => {
  sr.close();
  await removeTree(tmp);
});

/** One boot as the boot script does it, over the real env file and OSTree's real entry order. */
async function boot(): Promise<void> {
  const decision = nextBoot(await bl.getState(), sr.deployments().length > 1);
  if (decision.saved) await bl.setState(decision.state);
  await sr.load();
  booted = sr.deployments()[decision.entry]!.checksum;
}

function deps(health: HealthView): AgentDeps {
  const unused = () => Promise.reject(new Error('not part of this test'));
  return {
    sysroot: sysrootView(sr, { bootedCommit: async () => booted }),
    bootloader: bl,
    update: { fetchRelease: unused, fetchVersion: unused, preflight: unused, download: unused, deploy: unused, renderBootConfig: async () => {}, prune: async () => void (await prune(sr)), cleanDownloads: async () => {} },
    health: { run: async () => health },
    policy: { reboot: 'auto', mayApply: () => true },
    clock: { now: () => new Date('2026-01-01T00:00:00Z') },
    reboot: async () => void reboots++,
    emit: () => {},
  };
}

/**
 * The real update steps for a rollback, which reads and changes only the sysroot: no remote is reached and no
 * release verified, so the trusted keys are empty and the remote's port is closed.
 */
function rollbackDeps(health: HealthView): AgentDeps {
  const update = updateSteps({ sysroot: sr, trusted: { byKid: new Map() }, device: { board: 'b', arch: 'amd64' }, remote: 'http://127.0.0.1:9', group: 'g', osname: 'debian', downloadDir: join(tmp, 'download') });
  return { ...deps(health), update };
}

/** The record as the agent left it on A, having deployed B and asked for the reboot. */
async function savedBeforeReboot(store: StateStore): Promise<void> {
  const at = new Date('2026-01-01T00:00:00Z');
  let r: AgentRecord = beginUpdate(initialRecord(), { id: 'u1', at, releaseJws: 'h.p.s' });
  const events: AgentEvent[] = ['updateAvailable', 'downloaded', 'armed', 'deployed', 'rebootRequested'];
  for (const event of events) r = applyTransition(r, { event, to: nextState(r.state, event), at, patch: { fromCommit: A, toCommit: B, version: '1.1', ref: 'os' } });
  await store.save(r, at);
  await bl.setState(armForUpgrade(await bl.getState()));
}

/** `ostree admin status`'s deployments, in order, as commit checksums. */
async function adminStatus(): Promise<string[]> {
  const out = await ostree(['admin', 'status', `--sysroot=${path}`]);
  return [...out.matchAll(/debian ([0-9a-f]{64})\.\d+/g)].map((m) => m[1]!);
}

describe('the engine on a real sysroot (ostree admin deploy), real U-Boot env, stand-in reboot', () => {
  it('commits a healthy update: markGood, prune keeps the rollback, ostree admin status agrees', async () => {
    const store = new StateStore({ dir: join(tmp, 'state') });
    await savedBeforeReboot(store);
    await boot();
    expect(booted).toBe(B);
    const r = await new AgentMachine({ store, deps: deps(HEALTHY) }).resume();
    expect(r.lastResult).toMatchObject({ result: 'committed', fromCommit: A, toCommit: B });
    expect(await bl.getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
    expect(await adminStatus()).toEqual([B, A]);
  });

  it('rollback intent: A, after the booted B, is made the default, boots, is committed; both kept, ostree admin status agrees', async () => {
    await boot();
    expect(booted).toBe(B);
    const store = new StateStore({ dir: join(tmp, 'state') });
    const machine = new AgentMachine({ store, deps: rollbackDeps(HEALTHY) });
    const waiting = await machine.check({ id: 'rollback-1', intent: 'rollback' });
    expect(waiting.state).toBe('awaitingReboot');
    expect(await adminStatus()).toEqual([A, B]);
    expect(await bl.getState()).toMatchObject({ upgradeAvailable: true });
    await boot();
    expect(booted).toBe(A);
    const r = await machine.resume();
    // The test commits carry no version metadata (a local build): nothing to compare with a floor, so allowed.
    expect(r.lastResult).toMatchObject({ result: 'committed', fromCommit: B, toCommit: A, version: null });
    expect(await bl.getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
    expect(await adminStatus()).toEqual([A, B]);
  });

  it('rollback intent whose target fails its checks: back on B, neither deployment removed, ostree admin status agrees', async () => {
    await boot();
    const store = new StateStore({ dir: join(tmp, 'state') });
    const machine = new AgentMachine({ store, deps: rollbackDeps(UNHEALTHY) });
    let r = await machine.check({ id: 'rollback-1', intent: 'rollback' });
    while (r.state === 'awaitingReboot') {
      await boot();
      r = await machine.resume();
    }
    expect(r.lastResult).toMatchObject({ result: 'rolled-back', reason: 'unhealthy' });
    expect(booted).toBe(B);
    expect(await adminStatus()).toEqual([B, A]);
    expect(await bl.getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
  });

  it('rolls back an unhealthy update: reboot into A, B undeployed, flags cleared, ostree admin status agrees', async () => {
    const store = new StateStore({ dir: join(tmp, 'state') });
    await savedBeforeReboot(store);
    await boot();
    const machine = new AgentMachine({ store, deps: deps(UNHEALTHY) });
    const waiting = await machine.resume();
    expect(waiting.state).toBe('awaitingReboot');
    expect(reboots).toBe(1);
    expect(await bl.getState()).toMatchObject({ rollback: true, upgradeAvailable: false });
    await boot();
    expect(booted).toBe(A);
    const r = await machine.resume();
    expect(r.lastResult).toMatchObject({ result: 'rolled-back', reason: 'unhealthy' });
    expect(r.lastResult?.log.map((e) => `${e.state}:${e.event}`).slice(-6)).toEqual([
      'awaitingReboot:rebootRequested', 'awaitingReboot:resume', 'verifying:booted', 'rollingBack:fellBack', 'reporting:rolledBack', 'idle:reported',
    ]);
    expect(await bl.getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
    expect(await adminStatus()).toEqual([A]);
    await boot();
    expect(booted).toBe(A);
  });
});
