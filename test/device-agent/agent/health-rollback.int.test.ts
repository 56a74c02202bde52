import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processRuns } from '../../../common/pid.js';
import { fleet, makeDevice, removeDevices, type Device, type DeviceOptions, type Fleet } from './device.js';
import { adminStatus, bootedCommit, chain, CHAINS, IDLE_BOOT_STATE, otaAgent, rebootRequests, record } from './run-agent.js';
import { standInBoot } from './stand-in-boot.js';

// Health checks that fail on the new deployment, through the real `ota-agent` process: the agent
// asks the bootloader for the previous deployment and reboots (the stand-in reboot); after the
// stand-in boot it finishes the rollback there. A required script that fails, and one that hangs
// past the health deadline.

let tmp: string;
let f: Fleet;
let n = 0;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-agent-health-'));
  f = await fleet(tmp, ['1.0', '1.1']);
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

/** The agent's own rollback: the new deployment ran its checks and asked to go back. */
const ROLLBACK_ASKED = ['awaitingReboot:resume', 'verifying:booted', 'rollingBack:unhealthy', 'rebooting:rollbackRebootNeeded', 'awaitingReboot:rebootRequested'];

/** Whether a process runs: a zombie (killed, not yet reaped by whoever inherited it) does not. */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return processRuns(pid) && !/^\d+ \(.*\) Z /.test(stat);
}

/** upgrade, boot into 1.1, daemon --once (the checks fail, a reboot is asked for), boot, daemon --once. */
async function failingUpdate(options: Omit<DeviceOptions, 'dir'>): Promise<Device> {
  const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`), ...options });
  const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
  expect((await otaAgent(d, 'upgrade')).code).toBe(0);
  expect((await standInBoot(d)).entry.commit).toBe(B);
  const first = await otaAgent(d, 'daemon', '--once');
  expect(first.code, first.stderr).toBe(0);
  expect(await rebootRequests(d)).toBe(1);
  expect(await d.backend.getState()).toMatchObject({ rollback: true, upgradeAvailable: false });
  expect((await standInBoot(d)).entry).toMatchObject({ index: 1, commit: A });
  const second = await otaAgent(d, 'daemon', '--once');
  expect(second.code, second.stderr).toBe(0);
  return d;
}

describe('health checks that fail roll the update back (stand-in reboot and stand-in boot)', () => {
  for (const kind of ['uboot', 'grub'] as const) {
    it(`${kind}: a required check that fails: rolled back to 1.0 with reason unhealthy; ostree admin status agrees`, async () => {
      const d = await failingUpdate({ bootloader: kind, checks: { required: { '50-app': '#!/bin/sh\necho "app: no answer on :8080" >&2\nexit 1\n' } } });
      const A = f.releases['1.0']!.commit;
      const r = await record(d);
      expect(r.state).toBe('idle');
      expect(r.lastResult).toMatchObject({ result: 'rolled-back', reason: 'unhealthy', fromCommit: A, toCommit: f.releases['1.1']!.commit });
      expect(chain(r.lastResult!.log)).toEqual([...CHAINS.toReboot, ...ROLLBACK_ASKED, ...CHAINS.rolledBack]);
      // Every failure is named: the script and the last line it wrote.
      expect(r.lastResult!.log.find((e) => e.event === 'unhealthy')?.detail).toMatch(/50-app.*no answer on :8080/);
      expect(await bootedCommit(d)).toBe(A);
      expect(await adminStatus(d)).toEqual([A]);
      expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);
      // The boot config was rendered again after the rollback: the next boot is 1.0's, counting nothing.
      expect((await standInBoot(d)).entry).toMatchObject({ index: 0, commit: A });
    });
  }

  it('a required check that hangs: killed at the health deadline, rolled back with reason deadline', async () => {
    const pidFile = join(tmp, `hang-${n}.pid`);
    const d = await failingUpdate({
      etc: { health: { deadlineSeconds: 2 } },
      checks: { required: { '50-hang': `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 3600\n` } },
    });
    const A = f.releases['1.0']!.commit;
    const r = await record(d);
    expect(r.lastResult).toMatchObject({ result: 'rolled-back', reason: 'deadline' });
    expect(chain(r.lastResult!.log)).toEqual([...CHAINS.toReboot, ...ROLLBACK_ASKED, ...CHAINS.rolledBack]);
    // The hung check did not outlive the deadline: the agent killed it rather than wait for it.
    expect(await running(Number(await readFile(pidFile, 'utf8')))).toBe(false);
    expect(await bootedCommit(d)).toBe(A);
    expect(await adminStatus(d)).toEqual([A]);
    expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);
  });
});
