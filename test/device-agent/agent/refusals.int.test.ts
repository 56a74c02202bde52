import { mkdtemp, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashTree } from '../update/harness.js';
import { fleet, GROUP, makeDevice, removeDevices, type DeviceOptions, type Fleet } from './device.js';
import { adminStatus, bootedCommit, chain, CHAINS, IDLE_BOOT_STATE, otaAgent, rebootRequests, record } from './run-agent.js';

// Releases the device must not take, through the real `ota-agent` process: preflight refuses them
// before a byte of the commit is downloaded, and nothing the device boots changes.

let tmp: string;
let f: Fleet;
let n = 0;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-agent-refusals-'));
  f = await fleet(tmp, ['1.0', '1.1']);
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

/** Runs `upgrade --check` and `upgrade` on a fresh device; asserts the refusal changed nothing but the record. */
async function refused(options: Omit<DeviceOptions, 'dir'>, reason: RegExp): Promise<void> {
  const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`), ...options });
  const A = f.releases['1.0']!.commit;
  const sysrootBefore = await hashTree(d.sysroot);
  f.server.requests.length = 0;

  const check = await otaAgent(d, 'upgrade', '--check');
  expect(check.code).toBe(1);
  expect(check.stdout + check.stderr).toMatch(reason);
  const up = await otaAgent(d, 'upgrade');
  expect(up.code).toBe(1);
  expect(up.stdout + up.stderr).toMatch(reason);

  const r = await record(d);
  expect(r.state).toBe('idle');
  expect(r.lastResult).toMatchObject({ result: 'refused' });
  expect(r.lastResult!.reason).toMatch(reason);
  expect(chain(r.lastResult!.log)).toEqual(CHAINS.refused);
  // Only the release was fetched (once per command): not one object, delta part or superblock.
  expect(f.server.requests.map((q) => q.path)).toEqual([`/groups/${GROUP}/release.jws`, `/groups/${GROUP}/release.jws`]);
  expect(await hashTree(d.sysroot)).toEqual(sysrootBefore);
  expect(await adminStatus(d)).toEqual([A]);
  expect(await bootedCommit(d)).toBe(A);
  expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);
  expect(await rebootRequests(d)).toBe(0);
}

describe('refused before download (nothing changes on the device)', () => {
  it('a full disk: the health reserve is more than the free space', async () => {
    const fs = await statfs(tmp);
    await refused({ etc: { health: { minFreeDiskBytes: fs.bavail * fs.bsize + 2 ** 30 } } }, /disk/);
  });

  it('a release for another board', async () => {
    await refused({ board: 'otherboard' }, /board/);
  });
});
