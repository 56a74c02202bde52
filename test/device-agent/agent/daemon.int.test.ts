import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleet, makeDevice, removeDevices, type Fleet } from './device.js';
import { adminStatus, bootedCommit, chain, CHAINS, IDLE_BOOT_STATE, otaAgent, rebootRequests, record, startOtaAgent, until } from './run-agent.js';
import { standInBoot } from './stand-in-boot.js';

// The long-running daemon (`ota-agent daemon`, no --once) through the real process: its first poll
// takes the group's release to the stand-in reboot; after the stand-in boot the next daemon commits
// it; and while a daemon waits, a verb drives the machine (the daemon holds the lock only while it
// runs it). SIGTERM ends each wait with exit 0. Nothing sleeps: the test waits on files.

let tmp: string;
let f: Fleet;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-agent-daemon-'));
  f = await fleet(tmp, ['1.0', '1.1']);
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

describe('ota-agent daemon (stand-in reboot and stand-in boot)', () => {
  it("polls, updates to the reboot, commits after the boot, and lets a verb run while it waits", async () => {
    const d = await makeDevice(f, { dir: join(tmp, 'device'), etc: { pollIntervalSeconds: 3600 } });
    const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
    const lock = join(d.stateDir, 'agent.lock');

    const first = await startOtaAgent(d, 'daemon');
    await until('the poll asked for a reboot', async () => (await rebootRequests(d)) === 1);
    await until('the daemon let go of the lock', () => !existsSync(lock));
    first.kill('SIGTERM');
    const firstEnd = await first.exited;
    expect(firstEnd.code, firstEnd.stderr).toBe(0);
    const polled = await record(d);
    expect(polled.state).toBe('awaitingReboot');
    expect(polled.update!.id).toMatch(/^poll-\d+$/);

    expect((await standInBoot(d)).entry.commit).toBe(B);
    const second = await startOtaAgent(d, 'daemon');
    let journal = '';
    second.onStderr((t) => (journal += t));
    // It commits, then polls at once (1.1 is the group's release: up to date), then waits an hour.
    await until('the daemon committed and polled', () => /on upToDate/.test(journal) && !existsSync(lock));
    const committed = await record(d);
    expect(committed.lastResult).toMatchObject({ id: polled.update!.id, result: 'committed', fromCommit: A, toCommit: B });
    expect(chain(committed.lastResult!.log)).toEqual([...CHAINS.toReboot, ...CHAINS.commit]);
    expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);

    const rollback = await otaAgent(d, 'rollback');
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(await rebootRequests(d)).toBe(1);
    expect((await record(d)).state).toBe('awaitingReboot');
    second.kill('SIGTERM');
    const secondEnd = await second.exited;
    expect(secondEnd.code, secondEnd.stderr).toBe(0);
    expect(await bootedCommit(d)).toBe(B);
    expect(await adminStatus(d)).toEqual([A, B]);
  });
});
