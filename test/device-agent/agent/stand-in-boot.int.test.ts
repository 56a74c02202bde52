import { mkdtemp, readFile, realpath, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armForUpgrade, readOstreeBlsEntries } from '../../../bootloader/index.js';
import { bootedFromCommandLine } from '../../../device-agent/agent/booted.js';
import { loadAgentConfig } from '../../../device-agent/config/load.js';
import { renderGrub } from '../../../device-agent/update/deploy.js';
import { pull, Repo, Sysroot } from '../../../node-ostree/index.js';
import { ostree } from '../../helpers/ostree-cli.js';
import { REF, OS } from '../update/harness.js';
import { BOOTLIMIT, fleet, removeDevices, GRUB_BOOT_LOCATION, GRUB_ENV_LOCATION, makeDevice, type Device, type Fleet } from './device.js';
import { bootedCommit } from './run-agent.js';
import { commitOfCommandLine, standInBoot } from './stand-in-boot.js';

// The stand-in boot the agent's scenarios rely on, checked against what it stands in for: the
// bootloader's rules (bootloader/'s nextBoot over the real env files), the BLS entries and boot
// symlinks the real libostree writes, and `ostree admin status` (the real CLI) for which is which.

let tmp: string;
let f: Fleet;
let n = 0;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-stand-in-boot-'));
  f = await fleet(tmp, ['1.0', '1.1']);
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

/** `ostree admin status` as commits in boot order. */
async function adminStatus(d: Device): Promise<string[]> {
  const out = await ostree(['admin', 'status', `--sysroot=${d.sysroot}`]);
  return [...out.matchAll(/debian ([0-9a-f]{64})\.\d+/g)].map((m) => m[1]!);
}

/** Pulls and deploys 1.1 as the agent does (a plain deploy in a directory, the ref as origin) and arms the counter. */
async function deployAndArm(d: Device): Promise<void> {
  const repo = await Repo.open(join(d.sysroot, 'ostree/repo'));
  await pull(repo, join(f.publisher.pub, 'repo'), { refs: [f.releases['1.1']!.commit] }).finally(() => repo.close());
  const sr = await Sysroot.open(d.sysroot);
  try {
    await sr.load();
    await sr.deploy(OS, f.releases['1.1']!.commit, { refspec: REF, retain: true });
  } finally {
    sr.close();
  }
  await d.backend.setState(armForUpgrade(await d.backend.getState()));
}

const newDevice = (bootloader: 'uboot' | 'grub') => makeDevice(f, { dir: join(tmp, `device-${n++}`), bootloader });

describe('the stand-in boot (test harness) against the real boot entries and boot state', () => {
  it("a fresh device's command line leads to 1.0's deployment, and an idle counter is left alone", async () => {
    const d = await newDevice('uboot');
    const A = f.releases['1.0']!.commit;
    expect(await commitOfCommandLine(d.sysroot, await readFile(d.cmdline, 'utf8'))).toBe(A);
    const envBefore = await readFile(d.bootloader.envPath);
    const b = await standInBoot(d);
    expect(b.entry).toMatchObject({ index: 0, commit: A });
    expect(await adminStatus(d)).toEqual([A]);
    expect(await readFile(d.bootloader.envPath)).toEqual(envBefore);
  });

  for (const kind of ['uboot', 'grub'] as const) {
    it(`${kind}: an armed update boots entry 0 (the new deployment), counts, and falls back to 1.0 after ${BOOTLIMIT} panics`, async () => {
      const d = await newDevice(kind);
      const [A, B] = [f.releases['1.0']!.commit, f.releases['1.1']!.commit];
      await deployAndArm(d);
      if (kind === 'grub') {
        // What the agent does after each deploy on GRUB boards; without it grub.cfg still boots 1.0 (next test).
        const sr = await Sysroot.open(d.sysroot);
        await sr.load();
        if (d.bootloader.kind === 'grub') await renderGrub(sr, { configPath: d.bootloader.configPath, options: { env: GRUB_ENV_LOCATION, boot: GRUB_BOOT_LOCATION } });
        sr.close();
      }
      expect(await adminStatus(d)).toEqual([B, A]);
      const boots = [];
      for (let i = 0; i < BOOTLIMIT + 2; i++) {
        boots.push(await standInBoot(d, { kernelBoots: (e) => e.commit !== B }));
        // The agent reads the same command line to the same deployment (device-agent/agent/booted.ts).
        expect((await bootedFromCommandLine({ sysroot: d.sysroot, cmdlinePath: d.cmdline }))?.checksum).toBe(boots.at(-1)!.entry.commit);
      }
      expect(boots.map((b) => b.entry.commit)).toEqual([B, B, B, A, A]);
      expect(boots.map((b) => b.started)).toEqual([false, false, false, true, true]);
      expect(boots.map((b) => b.state.bootcount)).toEqual([1, 2, 3, 4, 4]);
      expect(await d.backend.getState()).toEqual({ bootcount: BOOTLIMIT + 1, upgradeAvailable: false, rollback: true, bootlimit: BOOTLIMIT });
      expect(await commitOfCommandLine(d.sysroot, await readFile(d.cmdline, 'utf8'))).toBe(A);
    });
  }

  it('grub: a grub.cfg not rendered again after the deploy boots what it lists: a boot version OSTree replaced, so nothing starts', async () => {
    const d = await newDevice('grub');
    await deployAndArm(d);
    const b = await standInBoot(d);
    expect(b.entry).toMatchObject({ index: 0, commit: null, cmdline: expect.stringMatching(/(^| )ostree=\/ostree\/boot\.\d\//) });
    expect(b.started).toBe(false);
  });

  it("passes the deployment ostree-prepare-root resolved at boot: still 1.0 after a deploy swapped OSTree's boot version", async () => {
    const d = await newDevice('uboot');
    const A = f.releases['1.0']!.commit;
    const bls = await readOstreeBlsEntries(join(d.sysroot, 'boot'));
    const atBoot = /ostree=(\S+)/.exec(bls[0]!.options)![1]!;
    await deployAndArm(d);
    // The path the bootloader passed for 1.0 is gone (or names another deployment) once 1.1 is deployed.
    expect(await realpath(join(d.sysroot, atBoot)).then((p) => p.includes(A), () => false)).toBe(false);
    expect(await bootedCommit(d)).toBe(A);
    expect((await bootedFromCommandLine({ sysroot: d.sysroot, cmdlinePath: d.cmdline }))?.checksum).toBe(A);
  });

  it("the device's configuration loads through the real layers, naming the stand-ins", async () => {
    const d = await newDevice('grub');
    const { config, files } = await loadAgentConfig({ root: d.root });
    expect(files).toEqual([join(d.root, 'usr/lib/ota/agent.yaml'), join(d.root, 'etc/ota/agent.yaml')]);
    expect(config).toMatchObject({ sysroot: d.sysroot, stateDir: d.stateDir, kernelCommandLine: d.cmdline, rebootCommand: [join(d.dir, 'stand-in-reboot')], bootloader: d.bootloader, group: 'lab' });
  });

  it('a boot clears the stand-in reboot requests', async () => {
    const d = await newDevice('uboot');
    await writeFile(d.rebootRequests, 'reboot\n');
    await standInBoot(d);
    await expect(readFile(d.rebootRequests)).rejects.toThrow(/ENOENT/);
  });
});
