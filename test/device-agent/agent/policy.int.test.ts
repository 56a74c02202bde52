import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from '../../../contract/index.js';
import { fleet, makeDevice, removeDevices, type Device, type Fleet } from './device.js';
import { adminStatus, bootedCommit, chain, CHAINS, IDLE_BOOT_STATE, otaAgent, rebootRequests, record } from './run-agent.js';
import { standInBoot } from './stand-in-boot.js';

// The policy through the real `ota-agent` process: download now and apply later, a maintenance
// window, and a reboot left to a person. Each ends committed on 1.1 after the stand-in boot.

let tmp: string;
let f: Fleet;
let n = 0;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-agent-policy-'));
  f = await fleet(tmp, ['1.0', '1.1']);
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

const DOWNLOADED = ['checking:begin', 'downloading:updateAvailable', 'downloaded:applyLater'];
const APPLIED = ['arming:apply', 'deploying:armed', 'rebooting:deployed', 'awaitingReboot:rebootRequested'];

/** Rests downloaded: the commit is in the repository, nothing the device boots has changed. */
async function expectDownloaded(d: Device): Promise<void> {
  const A = f.releases['1.0']!.commit;
  const r = await record(d);
  expect(r.state).toBe('downloaded');
  expect(chain(r.update!.log)).toEqual(DOWNLOADED);
  expect(await adminStatus(d)).toEqual([A]);
  expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);
  expect(await rebootRequests(d)).toBe(0);
}

/** Boots into 1.1, lets `daemon --once` verify, and checks the update committed with `chain` as its log. */
async function bootAndCommit(d: Device, expected: string[]): Promise<void> {
  const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
  expect((await standInBoot(d)).entry.commit).toBe(B);
  const daemon = await otaAgent(d, 'daemon', '--once');
  expect(daemon.code, daemon.stderr).toBe(0);
  const r = await record(d);
  expect(r.lastResult).toMatchObject({ result: 'committed', fromCommit: A, toCommit: B });
  expect(chain(r.lastResult!.log)).toEqual([...expected, ...CHAINS.commit]);
  expect(await bootedCommit(d)).toBe(B);
  expect(await adminStatus(d)).toEqual([B, A]);
  expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);
}

/** HH:MM in UTC, `hours` from now. */
const clock = (hours: number) => new Date(Date.now() + hours * 3600_000).toISOString().slice(11, 16);

describe('the policy (stand-in reboot and stand-in boot)', () => {
  it('upgrade --download-only rests downloaded; upgrade then applies without fetching again', async () => {
    const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`) });
    const dl = await otaAgent(d, 'upgrade', '--download-only', '--json');
    expect(dl.code, dl.stderr).toBe(0);
    await expectDownloaded(d);
    // --json prints the contract's status document after the run: downloaded, waiting to apply.
    const status = parseDocument('Status', dl.stdout);
    expect(status).toMatchObject({ phase: 'downloaded', updateId: expect.stringMatching(/^upgrade-\d+$/), progress: null, lastError: null });
    expect(status.deployments.rollback).toBeNull();
    f.server.requests.length = 0;
    const apply = await otaAgent(d, 'upgrade');
    expect(apply.code, apply.stderr).toBe(0);
    expect(f.server.requests).toEqual([]);
    expect(await rebootRequests(d)).toBe(1);
    await bootAndCommit(d, [...DOWNLOADED, ...APPLIED]);
  });

  it('outside the maintenance window the update waits downloaded; the daemon applies it once the window is open', async () => {
    const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`), etc: { policy: { maintenanceWindow: { start: clock(2), end: clock(3) } } } });
    const up = await otaAgent(d, 'upgrade');
    expect(up.code, up.stderr).toBe(0);
    await expectDownloaded(d);
    // A drop-in opens the window (start equal to end: all day).
    await mkdir(join(d.root, 'etc/ota/agent.d'), { recursive: true });
    await writeFile(join(d.root, 'etc/ota/agent.d/50-window.yaml'), `policy:\n  maintenanceWindow: { start: "${clock(0)}", end: "${clock(0)}" }\n`);
    const daemon = await otaAgent(d, 'daemon', '--once');
    expect(daemon.code, daemon.stderr).toBe(0);
    expect((await record(d)).state).toBe('awaitingReboot');
    expect(await rebootRequests(d)).toBe(1);
    await bootAndCommit(d, [...DOWNLOADED, ...APPLIED]);
  });

  it('reboot: manual deploys and arms, then waits for a person to reboot', async () => {
    const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`), etc: { policy: { reboot: 'manual' } } });
    const up = await otaAgent(d, 'upgrade');
    expect(up.code, up.stderr).toBe(0);
    const r = await record(d);
    expect(r.state).toBe('awaitingReboot');
    const expected = [...CHAINS.toReboot.slice(0, -1), 'awaitingReboot:rebootDeferred'];
    expect(chain(r.update!.log)).toEqual(expected);
    expect(await rebootRequests(d)).toBe(0);
    expect(await d.backend.getState()).toEqual({ ...IDLE_BOOT_STATE, upgradeAvailable: true });
    await bootAndCommit(d, expected);
  });

  it('reboot: manual never waits for a person to roll back: a failed check asks for the reboot itself', async () => {
    const failing = { required: { '50-app': '#!/bin/sh\necho "app: no answer" >&2\nexit 1\n' } };
    const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`), etc: { policy: { reboot: 'manual' } }, checks: failing });
    const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
    expect((await otaAgent(d, 'upgrade')).code).toBe(0);
    expect(await rebootRequests(d)).toBe(0);
    expect((await standInBoot(d)).entry.commit).toBe(B);
    expect((await otaAgent(d, 'daemon', '--once')).code).toBe(0);
    expect(await rebootRequests(d)).toBe(1);
    expect((await standInBoot(d)).entry.commit).toBe(A);
    expect((await otaAgent(d, 'daemon', '--once')).code).toBe(0);
    const r = await record(d);
    expect(r.lastResult).toMatchObject({ result: 'rolled-back', reason: 'unhealthy' });
    expect(chain(r.lastResult!.log)).toEqual([
      ...CHAINS.toReboot.slice(0, -1),
      'awaitingReboot:rebootDeferred',
      'awaitingReboot:resume',
      'verifying:booted',
      'rollingBack:unhealthy',
      'rebooting:rollbackRebootNeeded',
      'awaitingReboot:rebootRequested',
      ...CHAINS.rolledBack,
    ]);
    expect(await bootedCommit(d)).toBe(A);
    expect(await adminStatus(d)).toEqual([A]);
    expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);
  });
});
