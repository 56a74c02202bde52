import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESUME } from '../../../device-agent/engine/transitions.js';
import { ota } from '../../helpers/cli.js';
import { hashTree } from '../../helpers/tree-snapshot.js';
import { fleet, makeDevice, removeDevices, type Device, type Fleet } from '../agent/device.js';
import { adminStatus, bootedCommit, chain, otaAgent, rebootRequests, record, startOtaAgent } from '../agent/run-agent.js';
import { standInBoot } from '../agent/stand-in-boot.js';

// The verbs through the real `ota-agent` process (`--root`), on a real sysroot running 1.0, with releases the
// real `ota publish` made, served on 127.0.0.1. The reboot is a stand-in script that records the request.

let tmp: string;
let f: Fleet;
let n = 0;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-verbs-'));
  f = await fleet(tmp, ['1.0', '1.1']);
}, 180_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

const newDevice = (o: Omit<Parameters<typeof makeDevice>[1], 'dir'> = {}) => makeDevice(f, { dir: join(tmp, `d${n++}`), ...o });
const exists = (p: string) => stat(p).then(() => true, () => false);

/** The device's files that an update would change: the sysroot and the agent's state dir. */
async function snapshot(d: Device): Promise<Map<string, string>[]> {
  return [await hashTree(d.sysroot), await hashTree(d.stateDir)];
}

describe('ota-agent upgrade --check', () => {
  it('exits 0 when an update is available, and changes nothing', async () => {
    const d = await newDevice();
    const before = await snapshot(d);
    const requests = f.server.requests.length;
    const r = await otaAgent(d, 'upgrade', '--check');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`update available: fx/amd64 1.1 (${f.releases['1.1']!.commit.slice(0, 12)})`);
    expect(await snapshot(d)).toEqual(before);
    expect(await exists(join(d.stateDir, 'state.json'))).toBe(false);
    // only the group's release was read: nothing was downloaded
    expect(f.server.requests.slice(requests).map((q) => q.path)).toEqual(['/groups/lab/release.jws']);
  });

  it('exits 77 when the device runs the release', async () => {
    const d = await newDevice({ running: '1.1' });
    const r = await otaAgent(d, 'upgrade', '--check');
    expect(r.code, r.stderr).toBe(77);
    expect(r.stdout).toContain('up to date: fx/amd64 1.1 is running');
  });

  it('exits 1 with the reason when the release is refused, and --json prints the status document', async () => {
    const d = await newDevice({ board: 'otherboard' });
    const before = await snapshot(d);
    const r = await otaAgent(d, 'upgrade', '--check', '--json');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused: .*board/);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'Status', phase: 'idle', updateId: null });
    expect(await snapshot(d)).toEqual(before);
  });
});

describe('ota-agent upgrade', () => {
  it('runs the update to awaitingReboot and asks the stand-in reboot; daemon --once then commits it', async () => {
    const d = await newDevice();
    const r = await otaAgent(d, 'upgrade');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('1.1 is deployed; a reboot was requested');
    const rec = await record(d);
    expect(rec.state).toBe('awaitingReboot');
    const steps = chain(rec.update!.log);
    expect(steps.slice(0, 2)).toEqual(['checking:begin', 'downloading:updateAvailable']);
    expect(steps.at(-1)).toBe('awaitingReboot:rebootRequested');
    expect(await rebootRequests(d)).toBe(1);

    const boot = await standInBoot(d);
    expect(boot.entry.commit).toBe(f.releases['1.1']!.commit);
    const daemon = await otaAgent(d, 'daemon', '--once');
    expect(daemon.code, daemon.stderr).toBe(0);
    // the journal: sd-daemon priority prefixes on stderr
    expect(daemon.stderr).toMatch(/^<6>.*verifying → committing on healthy/m);
    const done = await record(d);
    expect(done.state).toBe('idle');
    expect(done.lastResult).toMatchObject({ result: 'committed', toCommit: f.releases['1.1']!.commit });
    expect(chain(done.lastResult!.log)).toContain('awaitingReboot:resume');
    expect((await adminStatus(d))[0]).toBe(f.releases['1.1']!.commit);
    expect(await bootedCommit(d)).toBe(f.releases['1.1']!.commit);
  });

  it('--download-only stops in downloaded without a reboot; upgrade then applies it', async () => {
    const d = await newDevice();
    const first = await otaAgent(d, 'upgrade', '--download-only', '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ kind: 'Status', phase: expect.stringMatching(/^download/) });
    expect((await record(d)).state).toBe('downloaded');
    expect(await rebootRequests(d)).toBe(0);
    expect(await adminStatus(d)).toEqual([d.running.commit]);
    const requests = f.server.requests.length;
    const second = await otaAgent(d, 'upgrade');
    expect(second.code, second.stderr).toBe(0);
    const rec = await record(d);
    expect(rec.state).toBe('awaitingReboot');
    expect(chain(rec.update!.log)).toContain('downloaded:applyLater');
    // applying downloads nothing again
    expect(f.server.requests.length).toBe(requests);
    expect(await rebootRequests(d)).toBe(1);
    expect((await adminStatus(d))[0]).toBe(f.releases['1.1']!.commit);
  });

  it('refuses a verb while another holds the lock, naming it; status shows the download\'s progress meanwhile', async () => {
    const d = await newDevice();
    // The first upgrade's delta part stops part-way and is held open until the test lets it go.
    const cut = f.server.cutOnce('/0', 1000);
    const first = await startOtaAgent(d, 'upgrade');
    try {
      await until(async () => (await readFile(join(d.stateDir, 'agent.lock'), 'utf8').catch(() => '')).trim() === String(first.pid) && (await record(d)).state === 'downloading');
      // Meanwhile status shows the download's progress from progress.json.
      await until(() => exists(join(d.stateDir, 'progress.json')));
      const status = await otaAgent(d, 'status', '--json');
      const doc = JSON.parse(status.stdout) as { phase: string; updateId: string; progress: { doneBytes: number; totalBytes: number } };
      expect(doc).toMatchObject({ phase: 'downloading', updateId: (await record(d)).update!.id });
      expect(doc.progress.doneBytes).toBeGreaterThan(0);
      expect(doc.progress.totalBytes).toBeGreaterThan(doc.progress.doneBytes);
      const second = await otaAgent(d, 'rollback', '--json');
      expect(second.code).toBe(1);
      expect(JSON.parse(second.stdout)).toMatchObject({ error: { code: 'ERR_OTA_STATE', exitCode: 1 } });
      expect(second.stderr).toContain(`another ota-agent (pid ${first.pid})`);
      expect((await record(d)).update?.id).toMatch(/^upgrade-/);
    } finally {
      cut.drop();
    }
    const end = await first.exited;
    expect(end.code, end.stderr).toBe(0);
    expect((await record(d)).state).toBe('awaitingReboot');
    expect(await exists(join(d.stateDir, 'progress.json'))).toBe(false);
  });
});

describe('ota-agent deploy and rollback', () => {
  it('deploy VERSION goes back to an older release of the running ref, to awaitingReboot', async () => {
    const d = await newDevice({ running: '1.1', before: ['1.0'] });
    const r = await otaAgent(d, 'deploy', '1.0', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'Status', phase: 'staged', updateId: 'deploy-1.0' });
    const rec = await record(d);
    expect(rec.update).toMatchObject({ intent: 'deploy', toCommit: f.releases['1.0']!.commit, fromCommit: f.releases['1.1']!.commit });
    expect((await adminStatus(d))[0]).toBe(f.releases['1.0']!.commit);
    expect(await rebootRequests(d)).toBe(1);
  });

  it('deploy of a version the remote does not have is ERR_OTA_NOT_FOUND and changes nothing', async () => {
    const d = await newDevice();
    const before = await snapshot(d);
    const r = await otaAgent(d, 'deploy', '9.9', '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'ERR_OTA_NOT_FOUND', message: `no release 9.9 of fx/amd64 at ${f.server.url}` } });
    expect(await snapshot(d)).toEqual(before);
  });

  it('deploy of a VERSION that is not a version, or is longer than 128 characters, is a usage error before anything is read', async () => {
    const d = await newDevice();
    const before = await snapshot(d);
    f.server.requests.length = 0;
    for (const bad of ['v1.1', `1.${'0'.repeat(127)}`]) {
      const r = await otaAgent(d, 'deploy', bad, '--json');
      expect(r.code, bad).toBe(2);
      expect(JSON.parse(r.stdout), bad).toMatchObject({ error: { code: 'ERR_OTA_USAGE', message: expect.stringContaining('argument VERSION') } });
    }
    expect(f.server.requests).toEqual([]);
    expect(await snapshot(d)).toEqual(before);
  });

  it('rollback makes the deployment after the running one the default and asks for the reboot', async () => {
    const d = await newDevice({ running: '1.1', before: ['1.0'] });
    const r = await otaAgent(d, 'rollback');
    expect(r.code, r.stderr).toBe(0);
    const rec = await record(d);
    expect(rec.state).toBe('awaitingReboot');
    expect(rec.update).toMatchObject({ intent: 'rollback', toCommit: f.releases['1.0']!.commit });
    expect((await adminStatus(d))[0]).toBe(f.releases['1.0']!.commit);
  });

  it('rollback with nothing to go back to is refused (exit 1) with the reason', async () => {
    const d = await newDevice();
    const r = await otaAgent(d, 'rollback');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^rollback-\d+: refused: .*no deployment to roll back to/m);
    expect((await record(d)).lastResult).toMatchObject({ result: 'refused' });
    expect(await adminStatus(d)).toEqual([d.running.commit]);
  });
});

describe('ota-agent install', () => {
  it('installs from a bundle without the network, to awaitingReboot', async () => {
    const file = join(tmp, 'fx-1.1-from-1.0.otab');
    const b = await ota('bundle', '--to', f.publisher.pub, '--version', '1.1', '--from', '1.0', '-o', file);
    expect(b.code, b.err).toBe(0);
    const d = await newDevice();
    const requests = f.server.requests.length;
    const r = await otaAgent(d, 'install', file);
    expect(r.code, r.stderr).toBe(0);
    const rec = await record(d);
    expect(rec.state).toBe('awaitingReboot');
    expect(rec.update).toMatchObject({ id: 'install-1.1', intent: 'install', bundlePath: file, toCommit: f.releases['1.1']!.commit });
    expect((await adminStatus(d))[0]).toBe(f.releases['1.1']!.commit);
    expect(f.server.requests.length).toBe(requests);
  });

  it('refuses a file that is not a bundle before anything changes', async () => {
    const d = await newDevice();
    const before = await snapshot(d);
    const r = await otaAgent(d, 'install', join(d.root, 'etc/ota/agent.yaml'), '--json');
    expect(r.code).not.toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'ERR_OTA_BUNDLE', exitCode: r.code } });
    expect(await snapshot(d)).toEqual(before);
  });
});

describe('ota-agent daemon', () => {
  it('waits while resting and exits 0 on SIGTERM', async () => {
    const d = await newDevice();
    const daemon = await startOtaAgent(d, 'daemon');
    let err = '';
    daemon.onStderr((t) => (err += t));
    await until(async () => err.includes('ota-agent daemon: device gw-0001'));
    daemon.kill('SIGTERM');
    const end = await daemon.exited;
    expect(end.code, end.stderr).toBe(0);
    expect(end.stderr).toMatch(/^<6>stopped by a signal$/m);
    expect((await record(d)).state).toBe('idle');
  });

  it('--once applies a download that waited for the maintenance window once the window allows it', async () => {
    const d = await newDevice();
    // A one-hour window that starts two hours from now (UTC): the update must wait.
    const hhmm = (h: number) => `${String((new Date().getUTCHours() + h) % 24).padStart(2, '0')}:00`;
    const dropIn = join(d.root, 'etc/ota/agent.d/50-window.yaml');
    await mkdir(dirname(dropIn), { recursive: true });
    await writeFile(dropIn, `policy:\n  maintenanceWindow: { start: "${hhmm(2)}", end: "${hhmm(3)}" }\n`);
    const first = await otaAgent(d, 'upgrade');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('outside the maintenance window');
    expect((await record(d)).state).toBe('downloaded');
    const waiting = await otaAgent(d, 'daemon', '--once');
    expect(waiting.code, waiting.stderr).toBe(0);
    expect((await record(d)).state).toBe('downloaded');
    // Now the window is all day (start equal to end).
    await writeFile(dropIn, 'policy:\n  maintenanceWindow: { start: "00:00", end: "00:00" }\n');
    const applied = await otaAgent(d, 'daemon', '--once');
    expect(applied.code, applied.stderr).toBe(0);
    const rec = await record(d);
    expect(rec.state).toBe('awaitingReboot');
    expect(chain(rec.update!.log)).toContain('downloaded:applyLater');
    expect(await rebootRequests(d)).toBe(1);
  });

  it('on SIGTERM during a poll\'s download, stops where a restart continues; daemon --once then goes on', async () => {
    const d = await newDevice({ etc: { pollIntervalSeconds: 3600 } });
    const cut = f.server.cutOnce('/0', 1000);
    const daemon = await startOtaAgent(d, 'daemon');
    try {
      await until(async () => (await record(d)).state === 'downloading');
      daemon.kill('SIGTERM');
    } finally {
      cut.drop();
    }
    const end = await daemon.exited;
    expect(end.code, end.stderr).toBe(0);
    const stopped = await record(d);
    expect(['rerun', 'booted']).toContain(RESUME[stopped.state]);
    expect(stopped.update?.id).toMatch(/^poll-\d+$/);
    expect(await rebootRequests(d)).toBe(0);
    const again = await otaAgent(d, 'daemon', '--once');
    expect(again.code, again.stderr).toBe(0);
    const rec = await record(d);
    expect(rec.state).toBe('awaitingReboot');
    expect(chain(rec.update!.log)).toContain(`${stopped.state}:resume`);
    expect(chain(rec.update!.log).some((s) => s.startsWith('rollingBack'))).toBe(false);
  });
});

/** Polls `cond` until it holds (a condition, not a time: the bound only stops a broken test). */
async function until(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 6000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('the condition never held');
}
