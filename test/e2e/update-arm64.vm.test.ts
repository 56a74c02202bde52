import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2e } from './boot-e2e.js';
import { rollbackLine } from './e2e-bootloaders.js';
import { expectedCmdline } from './scenario.js';
import { checkUpdateScenario, runUpdateScenario, stepLines, type UpdateResult } from './update-scenario.js';

// The update proof on the reference board (scripts/e2e-update qemu-arm64 runs the same steps):
// A with the agent's .deb, imaged and provisioned, booted under qemu-system-aarch64 with its own
// U-Boot; ota serve on the host, reached only through guestfwd; B committed, C rolled back by the
// agent, D (a kernel that cannot start init) counted bootlimit times by U-Boot and fallen back from,
// and a signed rollback command back to A. This also proves what the boot proof on this board did
// (U-Boot counting each failed boot of the new entry 0 in ota.env and falling back to entry 1 past
// bootlimit), so that one is no longer run on qemu-arm64. OTA_E2E_WORK=DIR keeps the work directory
// (DIR/update-qemu-arm64) and reuses its builds on the next run.
describe('the agent on a booted qemu-arm64: update, health rollback, bootloader fallback, rollback command', () => {
  let work: string;
  let r: UpdateResult;

  beforeAll(async () => {
    work = process.env.OTA_E2E_WORK ? join(process.env.OTA_E2E_WORK, 'update-qemu-arm64') : await mkdtemp('/tmp/ota-vm-update-');
    const e2e = await E2e.create({ board: 'qemu-arm64', work, log: (l) => process.stderr.write(`${l}\n`) });
    r = await runUpdateScenario(e2e);
    process.stderr.write(`${stepLines(r).join('\n')}\n`);
    // 15 to 20 minutes when the machine is quiet; each step waits at most 25 (update-scenario.ts)
  }, 90 * 60_000);
  afterAll(async () => {
    if (work && !process.env.OTA_E2E_WORK) await rm(work, { recursive: true, force: true });
  });

  it('boots A with U-Boot (OSTree entry 0), and the agent reports it idle on 1.0 over MQTT', () => {
    expect(r.boots[0]!.entries).toEqual([{ entry: 0, kernel: expect.stringMatching(/^\/boot\/ostree\/.+\/vmlinuz-/) }]);
    expect(r.boots[0]!.booted).toBe(r.commits.A);
    expect(r.boots[0]!.cmdline).toMatch(expectedCmdline(r.disk, 0));
    expect(r.statusAt.first!.deployments.booted).toEqual({ version: '1.0', commit: r.commits.A });
  });

  it('B: downloaded by its delta, staged, booted after the agent rebooted, healthy, committed', () => {
    const types = r.events.filter((e) => e.updateId === '1.1').map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['downloading', 'staging', 'staged', 'rebooting', 'committed']));
    expect(r.statusAt.step1!.deployments.booted).toEqual({ version: '1.1', commit: r.commits.B });
    // the boot that ran A ended in the agent's reboot (ostree-finalize-staged wrote B at shutdown): B is what came up next
    const intoB = r.boots.find((b) => b.booted === r.commits.B)!;
    expect(intoB.entries).toEqual([{ entry: 0, kernel: expect.any(String) }]);
    const s = r.steps.find((x) => x.name.startsWith('1b.'))!;
    expect(s.reportedBytes).toBeGreaterThan(0);
    expect(s.wireBytes).toBeGreaterThanOrEqual(s.reportedBytes!);
  });

  it("C: the required check fails, and the agent rolls back to B by itself, saying why", () => {
    const rb = r.events.find((e) => e.updateId === '1.2' && e.type === 'rolled-back')!;
    expect(rb.reason).toMatch(/unhealthy/);
    expect(r.statusAt.step2!.deployments.booted).toEqual({ version: '1.1', commit: r.commits.B });
  });

  it('D: U-Boot counts each panicking boot of entry 0 in ota.env, falls back to entry 1 past bootlimit, and the agent reports it', () => {
    const panics = r.boots.filter((b) => b.panic !== undefined);
    expect(panics).toHaveLength(3);
    for (const [i, boot] of panics.entries()) {
      expect(boot.entries).toEqual([{ entry: 0, kernel: expect.any(String) }]);
      expect(boot.panic).toMatch(/^No working init found/);
      expect(boot.booted).toBeUndefined();
      // exactly what U-Boot's `env export -t` wrote (NUL included)
      expect(boot.env).toBe(`bootcount=${i + 1}\nbootlimit=3\nrollback=0\nupgrade_available=1\n\0`);
    }
    const fallback = r.boots[r.boots.indexOf(panics[2]!) + 1]!;
    expect(fallback.console).toContain(rollbackLine(4, 3));
    expect(fallback.entries).toEqual([{ entry: 1, kernel: expect.any(String) }]);
    expect(fallback.booted).toBe(r.commits.B);
    expect(r.events.find((e) => e.updateId === '1.3' && e.type === 'rolled-back')!.reason).toMatch(/bootloader-fallback/);
    expect(r.statusAt.step3!.deployments.booted).toEqual({ version: '1.1', commit: r.commits.B });
  });

  it('a signed rollback command returns the device to A', () => {
    // The agent reads its booted deployment from ostree on the device, so its retained status is
    // the proof; the harness does not record the last boot, which ends at power-off.
    expect(r.statusAt.step4!.deployments.booted).toEqual({ version: '1.0', commit: r.commits.A });
  });

  it('passes every check scripts/e2e-update prints', () => {
    expect(checkUpdateScenario(r).filter((c) => !c.ok)).toEqual([]);
  });
});
