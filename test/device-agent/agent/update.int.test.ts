import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from '../../../contract/index.js';
import { hashTree } from '../update/harness.js';
import { fleet, makeDevice, removeDevices, type Fleet } from './device.js';
import { adminStatus, bootedCommit, chain, CHAINS, IDLE_BOOT_STATE, otaAgent, rebootRequests, record } from './run-agent.js';
import { standInBoot } from './stand-in-boot.js';

// A full update through the real `ota-agent` process: `upgrade`, the stand-in reboot, the stand-in
// boot, `daemon --once`; a real sysroot, releases made by `ota publish` served on 127.0.0.1, the
// real U-Boot env or GRUB's grubenv and grub.cfg; `ostree admin status` is the reference.

let tmp: string;
let f: Fleet;
let n = 0;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-agent-update-'));
  f = await fleet(tmp, ['1.0', '1.1']);
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

describe('a full update through ota-agent (stand-in reboot and stand-in boot)', () => {
  for (const kind of ['uboot', 'grub'] as const) {
    it(`${kind}: upgrade, reboot, daemon --once: committed on 1.1, and ostree admin status agrees`, async () => {
      const d = await makeDevice(f, { dir: join(tmp, `device-${n++}`), bootloader: kind });
      const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];

      const before = await hashTree(d.dir);
      const check = await otaAgent(d, 'upgrade', '--check');
      expect(check.code, check.stderr).toBe(0);
      expect(await hashTree(d.dir), 'upgrade --check changes nothing').toEqual(before);

      const up = await otaAgent(d, 'upgrade');
      expect(up.code, up.stderr).toBe(0);
      expect(await rebootRequests(d)).toBe(1);
      expect((await record(d)).state).toBe('awaitingReboot');
      expect(await adminStatus(d)).toEqual([B, A]);
      expect(await d.backend.getState()).toEqual({ ...IDLE_BOOT_STATE, upgradeAvailable: true });

      const boot = await standInBoot(d);
      expect(boot.entry).toMatchObject({ index: 0, commit: B });
      const daemon = await otaAgent(d, 'daemon', '--once');
      expect(daemon.code, daemon.stderr).toBe(0);
      // The daemon's journal: sd-daemon priorities, the committing step among them.
      expect(daemon.stderr).toMatch(/^<6>.*committ/m);

      const r = await record(d);
      expect(r.state).toBe('idle');
      expect(r.lastResult).toMatchObject({ result: 'committed', reason: null, version: '1.1', fromCommit: A, toCommit: B });
      expect(chain(r.lastResult!.log)).toEqual([...CHAINS.toReboot, ...CHAINS.commit]);
      expect(await bootedCommit(d)).toBe(B);
      expect(await adminStatus(d)).toEqual([B, A]);
      expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);
      // ota-agent status tells the same story as ostree admin status and the boot.
      const status = parseDocument('Status', (await otaAgent(d, 'status', '--json')).stdout);
      expect(status).toMatchObject({ phase: 'idle', updateId: null, lastError: null });
      expect(status.deployments).toEqual({ booted: { version: '1.1', commit: B }, staged: null, rollback: { version: '1.0', commit: A } });
      // It stays on 1.1 whatever boots next, and has nothing more to do.
      expect((await standInBoot(d)).entry.commit).toBe(B);
      expect((await otaAgent(d, 'upgrade', '--check')).code).toBe(77);
    });
  }
});
