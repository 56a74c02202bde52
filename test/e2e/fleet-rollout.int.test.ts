import { mkdir, mkdtemp, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { fleet, GROUP, removeDevices, type Fleet } from '../device-agent/agent/device.js';
import { rebootRequests, until } from '../device-agent/agent/run-agent.js';
import { REF } from '../device-agent/update/harness.js';
import { Rebooter, Recorder, startDevices, startOta, wavesFor, type FleetDevice } from './rollout-fleet.js';

// `ota fleet rollout` against six real agents (each its own sysroot, its relay a real process, the stand-in
// reboot and boot at the process boundary) on a real Mosquitto (docs/fleet.md, "ota fleet rollout"). The waves
// are computed with the contract's bucket function for each rollout's id, two devices each, so the test knows
// who is in which wave. The same devices go 1.0 -> 1.1 (wave by wave), -> 1.2 (paused, the controller killed,
// resumed, restarted), -> 1.3 (halted by failing health checks).

let tmp: string;
let f: Fleet;
let broker: Mosquitto;
let devices: FleetDevice[];
let rebooter: Rebooter;
let rec: Recorder;
const IDS = ['gw-0001', 'gw-0002', 'gw-0003', 'gw-0004', 'gw-0005', 'gw-0006'];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-fleet-rollout-'));
  f = await fleet(tmp, ['1.0', '1.1', '1.2', '1.3']);
  broker = await startMosquitto();
  rec = await Recorder.open(broker.url);
  devices = await startDevices(f, { tmp, broker: broker.url, ids: IDS });
  rebooter = new Rebooter(devices);
  // Every device reported idle on 1.0 (the controller counts the devices whose status names the group).
  await rec.waitFor('six devices idle on 1.0', () => IDS.every((id) => rec.statuses(id).some((s) => s.status.phase === 'idle' && s.status.group === GROUP)));
}, 600_000);

afterAll(async () => {
  await rebooter?.stop();
  await rec?.close();
  await broker?.stop();
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

const state = () => join(tmp, 'rollout-state.json');
const rollout = (version: string, id: string, waves: string, ...more: string[]) =>
  startOta('fleet', 'rollout', '--group', GROUP, '--release', join(f.publisher.pub, 'releases', REF, `${version}.jws`), '--key', f.publisher.keyDir, '--broker', broker.url, '--waves', waves, '--soak', '0', '--state', state(), '--id', id, ...more);
const control = (verb: string, ...more: string[]) => startOta('fleet', verb, GROUP, '--key', f.publisher.keyDir, '--broker', broker.url, '--state', state(), ...more).exited;
const staged = async (id: string) => (await rebootRequests(devices.find((d) => d.id === id)!.device)) > 0;

describe('ota fleet rollout with real agents', () => {
  it('succeeds wave by wave: each wave starts only once the one before committed after its health checks', async () => {
    const { waves, members } = wavesFor('r-ok', IDS, [2, 2, 2]);
    const run = await rollout('1.1', 'r-ok', waves).exited;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/rollout r-ok of 1\.1 to lab: completed, wave 3 of 3, 6 of 6 devices on 1\.1, 0 failed/);
    const docs = rec.rollouts(GROUP).filter((r) => r.doc.id === 'r-ok');
    expect(docs.map((d) => d.doc.wave.index)).toEqual([0, 1, 2]);
    for (let k = 1; k < 3; k++) {
      const doc = docs[k]!;
      for (const id of members[k - 1]!) expect(rec.succeeded(id, '1.1'), `${id} before wave ${k + 1}`).toBeLessThan(doc.at);
      for (const id of members[k]!.filter((d) => !members[k - 1]!.includes(d))) expect(rec.started(id, '1.1'), `${id} in wave ${k + 1}`).toBeGreaterThan(doc.at);
    }
    for (const id of IDS) expect(rebooter.reboots(id)).toBe(1);
  });

  it('pause holds the next wave (the updates under way finish), the controller killed and run again continues, resume completes', async () => {
    const { waves, members } = wavesFor('r-pause', IDS, [2, 2, 2]);
    for (const id of IDS) rebooter.held.add(id);
    const first = rollout('1.2', 'r-pause', waves);
    let progress = '';
    first.onStderr((t) => (progress += t));
    await until('wave 1 staged, its reboots held', async () => (await Promise.all(members[0]!.map(staged))).every(Boolean)).catch((e: Error) => {
      throw new Error(`${e.message}\n${progress}\n${devices.find((d) => d.id === members[0]![0])!.relay.journal().slice(-3000)}`);
    });
    const paused = await control('pause', '--reason', 'by the test');
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toContain('rollout r-pause of 1.2 to lab: paused, wave 1 of 3');
    // The updates under way go on to their reboot and commit.
    for (const id of members[0]!) rebooter.held.delete(id);
    await until('the controller saw wave 1 succeed while paused', () => /wave 1\/3 \([\d.]+%\) paused \(by the test\): 2 of 6 devices, 2 succeeded, 0 failed, 0 updating, 0 pending/.test(progress));
    // It decided nothing: the retained document is still the pause, and wave 2 did not start.
    expect(rec.rollouts(GROUP).filter((r) => r.doc.id === 'r-pause').at(-1)!.doc).toMatchObject({ state: 'paused', wave: { index: 0 } });
    for (const id of members[1]!.filter((d) => !members[0]!.includes(d))) expect(rec.started(id, '1.2')).toBeNull();

    first.kill('SIGKILL');
    await first.exited;
    const resumed = await control('resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    for (const id of IDS) rebooter.held.delete(id);
    const before = rec.rollouts(GROUP).length;
    const again = await rollout('1.2', 'r-pause', waves).exited;
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/rollout r-pause of 1\.2 to lab: completed, wave 3 of 3, 6 of 6 devices on 1\.2/);
    // The second run continued the first: the same rollout, from wave 2 on, every document issued after the last.
    const docs = rec.rollouts(GROUP).filter((r) => r.doc.id === 'r-pause');
    expect(rec.rollouts(GROUP).slice(before).map((r) => [r.doc.id, r.doc.wave.index, r.doc.state])).toEqual([['r-pause', 1, 'running'], ['r-pause', 2, 'running']]);
    expect(docs.map((d) => d.doc.state)).toEqual(['running', 'paused', 'running', 'running', 'running']);
    for (let i = 1; i < docs.length; i++) expect(docs[i]!.issuedAt.getTime()).toBeGreaterThan(docs[i - 1]!.issuedAt.getTime());
    for (const id of IDS) expect(rebooter.reboots(id)).toBe(2);
  });

  it('halts by itself when a wave fails its health checks, names the failed devices, and the next wave never starts', async () => {
    const { waves, members } = wavesFor('r-halt', IDS, [2, 2, 2]);
    const second = members[1]!.filter((d) => !members[0]!.includes(d));
    const third = IDS.filter((d) => !members[1]!.includes(d));
    for (const id of second) {
      const dir = join(devices.find((d) => d.id === id)!.device.root, 'etc/ota/health/required.d');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, '50-app'), '#!/bin/sh\necho "app: no answer" >&2\nexit 1\n');
      await chmod(join(dir, '50-app'), 0o755);
    }
    const run = await rollout('1.3', 'r-halt', waves, '--max-failure-rate', '5%', '--min-devices', '1').exited;
    expect(run.code, run.stdout).toBe(1);
    expect(run.stderr).toMatch(/ERR_OTA_ROLLOUT_HALTED|rollout r-halt of 1\.3 to lab halted: wave 2/);
    const failed = run.stdout.split('\n').flatMap((l) => (l.startsWith('failed: ') ? [l.slice(8)] : []));
    expect(failed.length).toBeGreaterThan(0);
    for (const id of failed) expect(second).toContain(id);
    expect(rec.rollouts(GROUP).at(-1)!.doc).toMatchObject({ id: 'r-halt', state: 'paused', wave: { index: 1 }, reason: expect.stringMatching(/^halted: wave 2/) });
    for (const id of third) expect(rec.started(id, '1.3'), id).toBeNull();
    // The devices that failed went back to 1.2, healthy, by themselves.
    await rec.waitFor('the failed devices back on 1.2', () => failed.every((id) => rec.statuses(id).at(-1)?.status.deployments.booted?.version === '1.2' && rec.statuses(id).at(-1)?.status.phase === 'idle'));
  });

  it('abort --rollback: one group command returns the devices on the release, with their confirmations; the others are left alone', async () => {
    // The halt came with the first failure: the other device of wave 2 may still be rolling back.
    await until('every device at rest', async () => (await Promise.all(devices.map(async (d) => rec.statuses(d.id).at(-1)?.status.phase === 'idle' && !(await staged(d.id))))).every(Boolean));
    const onRelease = IDS.filter((id) => rec.statuses(id).at(-1)?.status.deployments.booted?.version === '1.3');
    expect(onRelease.length).toBeGreaterThan(0);
    const r = await control('abort', '--rollback', '--timeout', '5m', '--reason', 'wave 2 failed');
    expect(r.code, r.stderr).toBe(0);
    for (const id of onRelease) expect(r.stdout).toMatch(new RegExp(`\\] ${id}: confirmed`));
    expect(r.stdout).toMatch(new RegExp(`rollout r-halt of 1\\.3 to lab: aborted, wave 2 of 3; rollback: ${onRelease.length} confirmed, 0 refused, 0 failed, ${IDS.length - onRelease.length} skipped, 0 pending`));
    expect(rec.rollouts(GROUP).at(-1)!.doc).toMatchObject({ id: 'r-halt', state: 'aborted' });
    for (const id of IDS) expect(rec.statuses(id).at(-1)!.status.deployments.booted?.version, id).toBe('1.2');
  });
});
