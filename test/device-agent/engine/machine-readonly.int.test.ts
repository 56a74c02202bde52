import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { run } from '../../../common/exec.js';
import { AgentMachine } from '../../../device-agent/engine/machine.js';
import type { AgentRecord } from '../../../device-agent/engine/record.js';
import { StateStore } from '../../../device-agent/engine/store.js';
import { A, B, recordingDevice, type RecordingDevice } from './recording-device.js';

let dir: string;
let mnt: string;
const isRoot = process.getuid?.() === 0;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-machine-ro-'));
  mnt = join(dir, 'mnt');
  await mkdir(mnt);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs a full update with the state directory on a tmpfs remounted read-only right after save number `n`. */
async function readOnlyAfter(dev: RecordingDevice, n: number): Promise<{ error: unknown; lastSaved: AgentRecord | undefined; callsAtFailure: string[] }> {
  let saves = 0;
  let lastSaved: AgentRecord | undefined;
  const onSaved = async (r: AgentRecord) => {
    lastSaved = r;
    if (++saves === n) await run('remount read-only', ['mount', '-o', 'remount,ro', mnt]);
  };
  const machine = new AgentMachine({ store: new StateStore({ dir: join(mnt, 'state') }), deps: dev.deps, onSaved });
  const error = await machine.check({ id: 'u1' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, lastSaved, callsAtFailure: [...dev.calls] };
}

describe('the machine on a state store that turns read-only (root: tmpfs remounted read-only), recording dependencies', () => {
  it.skipIf(!isRoot)('stops at the first save that fails, after the saved state\'s work and before the next; restarted on a writable store it ends consistently', async () => {
    for (const n of [1, 2, 3, 4, 5]) {
      await run('mount a tmpfs', ['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
      try {
        await rm(join(dir, 'ota.env'), { force: true });
        const dev = await recordingDevice(dir);
        const { error, lastSaved, callsAtFailure } = await readOnlyAfter(dev, n);
        expect(error, `read-only after ${n} saves`).toBeInstanceOf(OtaError);
        expect((error as OtaError).code).toBe('ERR_OTA_IO');
        const store = new StateStore({ dir: join(mnt, 'state') });
        const onDisk = await store.load();
        expect(onDisk).toEqual(lastSaved);
        // the work of the state on disk ran (it was saved first); nothing after it did
        const expectedCalls = { checking: ['fetchRelease'], downloading: ['fetchRelease', 'download'], arming: ['fetchRelease', 'download'], deploying: ['fetchRelease', 'download', 'deploy'], rebooting: ['fetchRelease', 'download', 'deploy', 'reboot'] } as Record<string, string[]>;
        expect(callsAtFailure, `state on disk: ${onDisk.state}`).toEqual(expectedCalls[onDisk.state]);
        if (onDisk.state === 'arming') expect((await dev.bootloader.getState()).upgradeAvailable).toBe(true);

        await run('remount read-write', ['mount', '-o', 'remount,rw', mnt]);
        if (dev.rebootPending) await dev.boot();
        const machine = new AgentMachine({ store, deps: dev.deps });
        let r = await machine.resume();
        while (r.state === 'awaitingReboot') {
          await dev.boot();
          r = await machine.resume();
        }
        const interrupted = onDisk.state === 'deploying';
        expect(r.lastResult).toMatchObject(interrupted ? { result: 'rolled-back', reason: 'interrupted' } : { result: 'committed' });
        expect(dev.booted).toBe(interrupted ? A : B);
        expect(dev.deployments).toEqual(interrupted ? [A] : [B, A]);
        expect(await dev.bootloader.getState()).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
      } finally {
        await run('unmount the tmpfs', ['umount', mnt]);
      }
    }
  });
});
