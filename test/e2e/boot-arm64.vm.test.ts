import { mkdtemp, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2e } from './boot-e2e.js';
import { checkScenario, runScenario, type ScenarioResult } from './scenario.js';

// The rollback proof on the reference board (scripts/e2e-boot qemu-arm64 runs the same steps): the
// reference image built and booted under qemu-system-aarch64 with its own U-Boot to multi-user,
// then an update that cannot boot deployed next to it, counted three times and rolled back by
// U-Boot on its own. About 6 minutes here with the debs cached (build 3 min, boots 2.5 min); set
// OTA_E2E_WORK=DIR to keep the work directory (and reuse its build on the next run).
describe('the reference image on qemu-arm64: boot, update that cannot boot, rollback', () => {
  let work: string;
  let r: ScenarioResult;

  beforeAll(async () => {
    work = process.env.OTA_E2E_WORK ?? (await mkdtemp('/tmp/ota-vm-'));
    const e2e = await E2e.create({ board: 'qemu-arm64', work, log: (l) => process.stderr.write(`${l}\n`) });
    r = await runScenario(e2e, { multiUserTimeoutMs: 8 * 60_000, panicTimeoutMs: 2 * 60_000 });
  });
  afterAll(async () => {
    if (work && !process.env.OTA_E2E_WORK) await rm(work, { recursive: true, force: true });
  });

  it('boots the built commit with U-Boot to multi-user.target, counting nothing', () => {
    expect(r.bootA.entries).toEqual([{ entry: 0, kernel: r.diskA.entries[0]!.kernel }]);
    expect(r.bootA.ended).toBe('until');
    expect(r.bootA.booted).toBe(r.a.checksum);
    expect(r.bootA.state).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
  });

  it('counts each failed boot of the update (entry 0) in ota.env before booting it', () => {
    expect(r.b!.checksum).not.toBe(r.a.checksum);
    expect(r.diskAB!.entries[1]!.kernel).toBe(r.diskA.entries[0]!.kernel);
    expect(r.armed).toBe('bootcount=0\nbootlimit=3\nrollback=0\nupgrade_available=1\n');
    for (const [i, boot] of r.rollbackBoots!.slice(0, 3).entries()) {
      expect(boot.entries).toEqual([{ entry: 0, kernel: r.diskAB!.entries[0]!.kernel }]);
      expect(boot.ended).toBe('exited');
      expect(boot.panic).toMatch(/^No working init found/);
      expect(boot.booted).toBeUndefined();
      // exactly what U-Boot's `env export -t` wrote (NUL included)
      expect(boot.env).toBe(`bootcount=${i + 1}\nbootlimit=3\nrollback=0\nupgrade_available=1\n\0`);
    }
  });

  it('falls back to the previous deployment on its own past bootlimit, and that boots to multi-user', () => {
    const rb = r.rollbackBoots![3]!;
    expect(rb.console).toContain('ota: boot 4 is past bootlimit 3: falling back to the previous deployment');
    expect(rb.entries).toEqual([{ entry: 1, kernel: r.diskA.entries[0]!.kernel }]);
    expect(rb.env).toBe('bootcount=4\nbootlimit=3\nrollback=1\nupgrade_available=0\n\0');
    expect(rb.ended).toBe('until');
    expect(rb.booted).toBe(r.a.checksum);
  });

  it('passes every check scripts/e2e-boot prints', () => {
    expect(checkScenario(r).filter((c) => !c.ok)).toEqual([]);
  });
});
