import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTLIMIT, fleet, makeDevice, removeDevices, type Fleet } from './device.js';
import { adminStatus, bootedCommit, chain, CHAINS, IDLE_BOOT_STATE, otaAgent, record } from './run-agent.js';
import { standInBoot } from './stand-in-boot.js';

// A kernel that panics (stand-in boot: the agent never starts on it) until the bootloader runs
// out of tries and boots the previous deployment, where the real `ota-agent` finds out and
// finishes the rollback.

let tmp: string;
let f: Fleet;
let n = 0;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-agent-fallback-'));
  f = await fleet(tmp, ['1.0', '1.1']);
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

describe('a bootloader fallback (stand-in boot: the new kernel panics)', () => {
  for (const kind of ['uboot', 'grub'] as const) {
    it(`${kind}: after ${BOOTLIMIT} panics the old deployment boots and the agent reports bootloader-fallback`, async () => {
      const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`), bootloader: kind });
      const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
      expect((await otaAgent(d, 'upgrade')).code).toBe(0);
      const panics = (e: { commit: string | null }) => e.commit !== B;
      const boots = [];
      for (let i = 0; i <= BOOTLIMIT; i++) boots.push(await standInBoot(d, { kernelBoots: panics }));
      expect(boots.map((b) => [b.entry.commit, b.started])).toEqual([[B, false], [B, false], [B, false], [A, true]]);

      const daemon = await otaAgent(d, 'daemon', '--once');
      expect(daemon.code, daemon.stderr).toBe(0);
      const r = await record(d);
      expect(r.state).toBe('idle');
      expect(r.lastResult).toMatchObject({ result: 'rolled-back', reason: 'bootloader-fallback', fromCommit: A, toCommit: B });
      expect(chain(r.lastResult!.log)).toEqual([...CHAINS.toReboot, ...CHAINS.rolledBack]);
      expect(await bootedCommit(d)).toBe(A);
      expect(await adminStatus(d)).toEqual([A]);
      expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);
      // OSTree's default is 1.0 again: the next boot, counting nothing, stays there.
      expect((await standInBoot(d)).entry).toMatchObject({ index: 0, commit: A });
    });
  }
});
