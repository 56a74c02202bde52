import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { bundledChild } from '../../helpers/bundled-child.js';
import { removeTree } from '../../helpers/ostree-cli.js';
import { expectedChain, runToRest, startCrashAgent } from './crash-run.js';
import { fleet, makeDevice, removeDevices, type Device, type Fleet } from './device.js';
import { adminStatus, bootedCommit, chain, IDLE_BOOT_STATE, rebootRequests, record } from './run-agent.js';
import { standInBoot } from './stand-in-boot.js';

// The whole agent (openAgent from the device's configuration, real downloads, a real sysroot and U-Boot
// env) with its state directory on a tmpfs that the agent's process remounts read-only right after save
// N, for every N of a full update: the agent stops at the first save that fails, having done the work of
// the state on disk and nothing after it; remounted read-write, the restarted agent ends the update with
// the exact chain, on the new commit or the old one, and `ostree admin status` agrees. Root only (mount).

const isRoot = process.getuid?.() === 0;
let child: string;
let tmp: string;
let f: Fleet;
let n = 0;
/** The tmpfs mounts not yet unmounted (a failed test leaves them for afterAll). */
const mounted = new Set<string>();

beforeAll(async () => {
  if (!isRoot) return;
  child = await bundledChild(join(import.meta.dirname, 'crash-agent.ts'));
  tmp = await mkdtemp(join(tmpdir(), 'ota-agent-readonly-'));
  f = await fleet(tmp, ['1.0', '1.1']);
}, 120_000);

afterAll(async () => {
  for (const mnt of mounted) await run('unmount the tmpfs', ['umount', mnt]);
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

/** A device whose state directory is on a tmpfs of its own; `roAfter` (0: never) is the save after which it turns read-only. */
async function tmpfsDevice(roAfter: number): Promise<{ d: Device; mnt: string }> {
  const mnt = join(tmp, `tmpfs-${n}`);
  await mkdir(mnt);
  await run('mount a tmpfs', ['mount', '-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mnt]);
  mounted.add(mnt);
  const stateDir = join(mnt, 'state');
  const d = { ...(await makeDevice(f, { dir: join(tmp, `device-${n++}`), etc: { stateDir } })), stateDir };
  await writeFile(join(d.dir, 'kill-at'), roAfter === 0 ? '' : `ro:${roAfter}`);
  await writeFile(join(d.dir, 'ro-mount'), mnt);
  return { d, mnt };
}

async function dispose(d: Device, mnt: string): Promise<void> {
  await run('unmount the tmpfs', ['umount', mnt]);
  mounted.delete(mnt);
  await removeTree(d.dir);
}

/**
 * Starts the agent until a save fails (it exits with ERR_OTA_IO), booting when a reboot was asked for;
 * returns the state and log length of the record on disk when it failed.
 */
async function untilSaveFails(d: Device): Promise<{ state: string; at: number; stderr: string }> {
  for (let i = 0, mode: 'check' | 'resume' = 'check'; i < 4; i++, mode = 'resume') {
    const { code, stderr } = await startCrashAgent(child, d, mode);
    const r = await record(d);
    // The reboot it asked for happens, whether or not the save after it failed.
    if ((await rebootRequests(d)) > 0) await standInBoot(d);
    if (code !== 0) return { state: r.state, at: r.update?.log.length ?? 0, stderr };
  }
  throw new Error('no save failed');
}

describe('the whole agent on a state directory that turns read-only after save N (root: tmpfs remounted read-only)', () => {
  it.skipIf(!isRoot)('stops at the failing save; read-write again, it ends the update with the exact chain, for every N', async () => {
    const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
    const clean = await tmpfsDevice(0);
    expect(await runToRest(child, clean.d, { maxRuns: 10 })).toEqual({ kills: 0 });
    const cleanLog = chain((await record(clean.d)).lastResult!.log);
    expect(cleanLog.at(-2)).toBe('reporting:committed');
    const saves = Number(await readFile(join(clean.d.dir, 'saves'), 'utf8'));
    await dispose(clean.d, clean.mnt);

    for (let k = 1; k < saves; k++) {
      const { d, mnt } = await tmpfsDevice(k);
      try {
        const failed = await untilSaveFails(d);
        const label = `read-only after save ${k} (${failed.state}, ${failed.at} log entries)`;
        expect(failed.stderr, label).toMatch(/ERR_OTA_IO/);
        await run('remount read-write', ['mount', '-o', 'remount,rw', mnt]);
        expect(await runToRest(child, d, { maxRuns: 10, first: 'resume' }), label).toEqual({ kills: 0 });
        const last = (await record(d)).lastResult!;
        const expected = expectedChain(cleanLog, failed.state as Parameters<typeof expectedChain>[1], failed.at, true);
        expect(chain(last.log), label).toEqual(expected);
        const committed = !expected.includes('rollingBack:interrupted');
        expect(last, label).toMatchObject(committed ? { result: 'committed' } : { result: 'rolled-back', reason: 'interrupted' });
        expect(await bootedCommit(d), label).toBe(committed ? B : A);
        expect(await adminStatus(d), label).toEqual(committed ? [B, A] : [A]);
        expect(await d.backend.getState(), label).toEqual(IDLE_BOOT_STATE);
      } finally {
        await dispose(d, mnt);
      }
    }
  });
});
