import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticDeltaPath } from '../../../node-ostree/index.js';
import { ota } from '../../helpers/cli.js';
import { hashTree, partialReaches, REF } from '../update/harness.js';
import { fleet, makeDevice, removeDevices, type Device, type Fleet } from './device.js';
import { type AgentRun, adminStatus, bootedCommit, chain, CHAINS, IDLE_BOOT_STATE, otaAgent, rebootRequests, record, startOtaAgent } from './run-agent.js';
import { standInBoot } from './stand-in-boot.js';

// rpm-ostree's verbs through the real `ota-agent` process: rollback to the deployment already on
// disk, deploy a named (older) version, install an offline bundle made by `ota bundle`, and one
// update at a time whoever drives it.

let tmp: string;
let f: Fleet;
let n = 0;
const commit = (v: string) => f.releases[v]!.commit;
const LATEST = '1.3';

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-agent-verbs-'));
  f = await fleet(tmp, ['1.0', '1.1', '1.2']);
  // The group's release: devices that commit it may no longer run anything at or below 1.1.
  await f.publish(LATEST, '--min-version', '1.1');
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

/** The error document a failed command printed with --json (docs/cli-json.md). */
const errorOf = (r: AgentRun) => (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;

/** Runs a verb to the stand-in reboot, boots, and lets `daemon --once` commit; returns the record. */
async function verbToCommit(d: Device, from: string, to: string, ...verb: string[]): Promise<void> {
  const run = await otaAgent(d, ...verb);
  expect(run.code, run.stderr).toBe(0);
  expect(await rebootRequests(d)).toBe(1);
  expect((await standInBoot(d)).entry.commit).toBe(commit(to));
  const daemon = await otaAgent(d, 'daemon', '--once');
  expect(daemon.code, daemon.stderr).toBe(0);
  const r = await record(d);
  expect(r.state).toBe('idle');
  expect(r.lastResult).toMatchObject({ result: 'committed', fromCommit: commit(from), toCommit: commit(to) });
  expect(chain(r.lastResult!.log)).toEqual([...CHAINS.toReboot, ...CHAINS.commit]);
  expect(await bootedCommit(d)).toBe(commit(to));
  expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);
}

describe("ota-agent's verbs (stand-in reboot and stand-in boot)", () => {
  it('rollback: the deployment after the booted one becomes the default, nothing is fetched, and it commits', async () => {
    const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`), before: ['1.0'], running: '1.1' });
    expect(await adminStatus(d)).toEqual([commit('1.1'), commit('1.0')]);
    f.server.requests.length = 0;
    await verbToCommit(d, '1.1', '1.0', 'rollback');
    expect(f.server.requests).toEqual([]);
    expect(await adminStatus(d)).toEqual([commit('1.0'), commit('1.1')]);
  });

  it('deploy VERSION: an older release by name, pulled and committed', async () => {
    const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`), running: '1.2' });
    await verbToCommit(d, '1.2', '1.1', 'deploy', '1.1');
    expect(f.server.requests.some((q) => q.path === `/releases/${REF}/1.1.jws`)).toBe(true);
    expect(await adminStatus(d)).toEqual([commit('1.1'), commit('1.2')]);
  });

  it('deploy of a version never published: ERR_OTA_NOT_FOUND naming it, and nothing changes', async () => {
    const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`) });
    const before = await hashTree(d.dir);
    const r = await otaAgent(d, 'deploy', '9.9', '--json');
    expect(r.code).toBe(1);
    expect(errorOf(r)).toMatchObject({ code: 'ERR_OTA_NOT_FOUND', message: expect.stringContaining(`no release 9.9 of ${REF} at ${f.server.url}`) });
    expect(await hashTree(d.dir)).toEqual(before);
  });

  it('install FILE: a bundle from `ota bundle` is applied offline (no request to the remote) and commits', async () => {
    const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`) });
    const bundle = join(tmp, 'update-1.1.otab');
    const b = await ota('bundle', '--to', f.publisher.pub, '--version', '1.1', '--from', '1.0', '-o', bundle);
    expect(b.code, b.err).toBe(0);
    f.server.requests.length = 0;
    await verbToCommit(d, '1.0', '1.1', 'install', bundle);
    expect(f.server.requests).toEqual([]);
    expect(await adminStatus(d)).toEqual([commit('1.1'), commit('1.0')]);
  });

  it('a second verb while an upgrade runs is refused, naming the holder; the upgrade goes on', async () => {
    const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`) });
    // Hold the upgrade mid-download: the server sends part of a delta part and waits.
    const part = `/repo/${staticDeltaPath(commit('1.0'), commit(LATEST))}/0`;
    const cutter = f.server.cutOnce(part, 10_000);
    const upgrade = await startOtaAgent(d, 'upgrade');
    await partialReaches(join(d.stateDir, 'download', commit(LATEST), '0'), 10_000);
    const stateBefore = await readFile(join(d.stateDir, 'state.json'));
    for (const verb of [['rollback'], ['upgrade'], ['deploy', '1.1']]) {
      const second = await otaAgent(d, ...verb, '--json');
      expect(second.code, verb.join(' ')).toBe(1);
      expect(errorOf(second)).toMatchObject({ code: 'ERR_OTA_STATE', message: expect.stringContaining(`pid ${upgrade.pid}`) });
    }
    expect(await readFile(join(d.stateDir, 'state.json'))).toEqual(stateBefore);
    cutter.drop();
    const done = await upgrade.exited;
    expect(done.code, done.stderr).toBe(0);
    expect((await record(d)).state).toBe('awaitingReboot');
    expect(await adminStatus(d)).toEqual([commit(LATEST), commit('1.0')]);
  });

  it('rollback below the floor a committed release set is refused; --below-floor allows it', async () => {
    const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`), before: ['1.0'], running: '1.1' });
    await verbToCommit(d, '1.1', LATEST, 'upgrade');
    expect(await adminStatus(d)).toEqual([commit(LATEST), commit('1.1')]);
    const before = await hashTree(d.sysroot);

    const refused = await otaAgent(d, 'rollback');
    expect(refused.code).toBe(1);
    const r = await record(d);
    expect(r.lastResult).toMatchObject({ result: 'refused', reason: expect.stringMatching(/floor/) });
    expect(chain(r.lastResult!.log)).toEqual(CHAINS.refused);
    expect(await hashTree(d.sysroot)).toEqual(before);
    expect(await rebootRequests(d)).toBe(0);

    await verbToCommit(d, LATEST, '1.1', 'rollback', '--below-floor');
    expect(await adminStatus(d)).toEqual([commit('1.1'), commit(LATEST)]);
  });
});
