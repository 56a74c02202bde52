import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readHostSources } from '../../host-tools/apt/host-sources.js';
import { listInitramfs } from '../../host-tools/compose/initramfs.js';
import { catFile, Repo } from '../../node-ostree/index.js';
import { E2e } from './boot-e2e.js';
import { checkScenario, runScenario, type ScenarioResult } from './scenario.js';

// The reference image on qemu-armhf (Debian's armmp kernel, U-Boot's qemu_arm, bootz), built
// through qemu-user for 32-bit ARM and booted under qemu-system-arm to multi-user. Only the boot:
// counting and rollback are the same boot script as on qemu-arm64 (`scripts/e2e-boot qemu-armhf`
// runs them too), and the vm tier has to stay short. What this board proved first: a 32-bit
// dracut under qemu-user found no kernel modules on ext4 (EOVERFLOW from 64-bit directory
// offsets), so the initramfs could not find its root. About 5 minutes here with the debs cached
// (build 3-4 min, boot 1 min); OTA_E2E_WORK=DIR keeps the work directory (DIR/qemu-armhf).
describe('the reference image on qemu-armhf boots with U-Boot to multi-user', () => {
  let work: string;
  let r: ScenarioResult;

  beforeAll(async () => {
    work = process.env.OTA_E2E_WORK ? join(process.env.OTA_E2E_WORK, 'qemu-armhf') : await mkdtemp('/tmp/ota-vm-armhf-');
    // This mirror's bookworm-security armhf index does not match its InRelease at the moment (apt
    // refuses it too): the other suites of the host's sources.
    const hostSuites = [...new Set((await readHostSources()).map((h) => h.suite).filter((s) => !s.endsWith('-security')))];
    const e2e = await E2e.create({ board: 'qemu-armhf', work, hostSuites, log: (l) => process.stderr.write(`${l}\n`) });
    r = await runScenario(e2e, { rollback: false, multiUserTimeoutMs: 8 * 60_000 });
  });
  afterAll(async () => {
    if (work && !process.env.OTA_E2E_WORK) await rm(work, { recursive: true, force: true });
  });

  it('builds an initramfs with the drivers for the root device (a 32-bit dracut under qemu-user)', async () => {
    const repo = await Repo.open(join(work, 'repo'));
    try {
      const paths = listInitramfs(await catFile(repo, r.a.ref, `/usr/lib/modules/${r.a.kernel}/initramfs.img`), 'initramfs.img');
      for (const m of ['virtio_mmio', 'virtio_blk', 'ext4']) expect(paths.some((p) => p.endsWith(`/${m}.ko`)), m).toBe(true);
      expect(paths.filter((p) => p.endsWith('.ko')).length).toBeGreaterThan(500);
    } finally {
      repo.close();
    }
  });

  it('boots the built commit with bootz from U-Boot to multi-user.target, counting nothing', () => {
    expect(r.bootA.entries).toEqual([{ entry: 0, kernel: r.diskA.entries[0]!.kernel }]);
    expect(r.bootA.console).toMatch(/Booting Linux on physical CPU/);
    expect(r.bootA.ended).toBe('until');
    expect(r.bootA.booted).toBe(r.a.checksum);
    expect(r.bootA.state).toEqual({ bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 });
  });

  it('passes every check scripts/e2e-boot prints for a boot', () => {
    expect(checkScenario(r).filter((c) => !c.ok)).toEqual([]);
  });
});
