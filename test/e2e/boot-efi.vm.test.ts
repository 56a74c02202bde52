import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2e, envLine } from './boot-e2e.js';
import { checkScenario, runScenario, type ScenarioResult } from './scenario.js';

// The rollback proof for GRUB EFI boards (scripts/e2e-boot x86_64-efi runs the same steps): the
// reference image built for x86_64-efi (Debian's kernel, dracut with the ostree module,
// grub-efi-amd64-bin), made into a disk by `ota image`, booted under qemu-system-x86_64 (q35, TCG)
// with the host's OVMF and no NVRAM entries to multi-user; then an update that cannot boot deployed
// next to it, counted three times in grubenv by the generated grub.cfg and rolled back by GRUB on
// its own. About 4 minutes here with the debs cached (build 40 s, boots 2.5 min);
// OTA_E2E_WORK=DIR keeps the work directory (DIR/x86_64-efi) and reuses its build on the next run.
describe('the reference image on x86_64-efi: GRUB under OVMF boots it, counts an update that cannot boot, rolls back', () => {
  let work: string;
  let r: ScenarioResult;

  beforeAll(async () => {
    work = process.env.OTA_E2E_WORK ? join(process.env.OTA_E2E_WORK, 'x86_64-efi') : await mkdtemp('/tmp/ota-vm-efi-');
    const e2e = await E2e.create({ board: 'x86_64-efi', work, log: (l) => process.stderr.write(`${l}\n`) });
    r = await runScenario(e2e, { multiUserTimeoutMs: 8 * 60_000, panicTimeoutMs: 2 * 60_000 });
  });
  afterAll(async () => {
    if (work && !process.env.OTA_E2E_WORK) await rm(work, { recursive: true, force: true });
  });

  it('OVMF starts the removable-media GRUB from the disk, and GRUB runs the generated grub.cfg without an error', () => {
    expect(r.bootA.console).toMatch(/BdsDxe: starting Boot\d+ /);
    expect(r.bootA.console).toContain('Welcome to GRUB!');
    expect(r.bootA.console).toContain('ota: bootcount=0 bootlimit=3 upgrade_available=0 rollback=0');
    expect(r.errorsA).toEqual([]);
    expect(r.bootA.console).toMatch(/Booting `Debian GNU\/Linux 12 \(bookworm\) .* \(ostree:0\)'/);
    expect(r.bootA.entries).toEqual([{ entry: 0, kernel: r.diskA.entries[0]!.kernel }]);
  });

  it("boots OSTree's entry for the built commit with the kernel arguments ota image set, to multi-user.target through dracut's ostree-prepare-root", () => {
    expect(r.bootA.cmdline).toMatch(new RegExp(`^BOOT_IMAGE=/boot/ostree/e2e-[0-9a-f]{64}/vmlinuz-${r.a.kernel} ${r.diskA.kargs.join(' ')} ostree=/ostree/boot\\.1/e2e/[0-9a-f]{64}/0$`));
    expect(r.bootA.console).toMatch(/Finished .*OSTree Prepare OS\//);
    expect(r.bootA.console).toMatch(/Reached target .*Multi-User System/);
    expect(r.bootA.ended).toBe('until');
    expect(r.bootA.booted).toBe(r.a.checksum);
  });

  it('counts nothing on an ordinary boot: the grubenv is as ota image wrote it', () => {
    expect(envLine(r.envA)).toBe('bootcount=0 bootlimit=3 rollback=0 upgrade_available=0');
    expect(r.bootA.env).toBe(r.envA);
    expect(r.bootA.state).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
  });

  it('counts each failed boot of the update (entry 0) in grubenv before booting it', () => {
    expect(r.b!.checksum).not.toBe(r.a.checksum);
    expect(r.diskAB!.entries.map((e) => e.title)).toEqual([expect.stringMatching(/\(ostree:0\)$/), expect.stringMatching(/\(ostree:1\)$/)]);
    expect(r.diskAB!.entries[1]!.kernel).toBe(r.diskA.entries[0]!.kernel);
    expect(envLine(r.armed!)).toBe('bootcount=0 bootlimit=3 rollback=0 upgrade_available=1');
    for (const [i, boot] of r.rollbackBoots!.slice(0, 3).entries()) {
      expect(boot.console).toContain(`ota: bootcount=${i} bootlimit=3 upgrade_available=1 rollback=0`);
      expect(boot.entries).toEqual([{ entry: 0, kernel: r.diskAB!.entries[0]!.kernel }]);
      expect(boot.ended).toBe('exited');
      expect(boot.panic).toMatch(/^No working init found/);
      expect(boot.booted).toBeUndefined();
      // GRUB's save_env rewrote the 1024-byte block in place, variables in their order
      expect(boot.env).toHaveLength(1024);
      expect(envLine(boot.env)).toBe(`bootcount=${i + 1} bootlimit=3 rollback=0 upgrade_available=1`);
    }
  });

  it('falls back to the previous deployment on its own past bootlimit, and that boots to multi-user', () => {
    const rb = r.rollbackBoots![3]!;
    expect(rb.console).toContain('ota: boot 4 is past bootlimit 3: falling back to the previous deployment');
    expect(rb.console).toMatch(/Booting `Debian GNU\/Linux 12 \(bookworm\) .* \(ostree:1\)'/);
    expect(rb.entries).toEqual([{ entry: 1, kernel: r.diskA.entries[0]!.kernel }]);
    expect(envLine(rb.env)).toBe('bootcount=4 bootlimit=3 rollback=1 upgrade_available=0');
    expect(rb.ended).toBe('until');
    expect(rb.booted).toBe(r.a.checksum);
  });

  it('passes every check scripts/e2e-boot prints', () => {
    expect(checkScenario(r).filter((c) => !c.ok)).toEqual([]);
  });
});
