import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { parseGrubEnv, GRUBENV_SIZE } from '../../../bootloader/grub/env.js';
import { bootStateFromVars } from '../../../bootloader/state-vars.js';
import { build, type ImageBuild } from '../../../host-tools/compose/build.js';
import { makeImage, type ImageResult } from '../../../host-tools/image/disk-image.js';
import { GRUB_EFI_MODULES, planGrubEfi } from '../../../host-tools/image/grub-efi.js';
import { loadBoard } from '../../../host-tools/board/load.js';
import { catFile, Repo } from '../../../node-ostree/index.js';
import { fixtureImage, type FixtureImage } from '../../helpers/build-harness.js';
import { boardPackages } from '../../helpers/board-fixture.js';

// An amd64 fixture image (fixture kernel, stand-in dracut) on a fixture GRUB EFI board whose
// bootloader package is the REAL grub-efi-amd64-bin from the host's apt sources, so that
// grub-mkimage builds a real GRUB from the image's modules; the ESP read back with mtools.
// That such a disk boots and rolls back: test/e2e/boot-efi.vm.test.ts.
const MTOOLS = { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } };
const KVER = '6.1.0-1';

const GRUB_EFI_BOARD_YAML = `name: fxefi
arch: amd64
description: fixture GRUB EFI board
kernel: { packages: [fx-linux], console: ttyS0 }
bootloader: { type: grub-efi, packages: [grub-efi-amd64-bin], env: { partition: esp, path: EFI/ota/grubenv } }
disk: { table: gpt, partitions: [{ label: esp, fs: vfat, size: 64MiB, role: esp }, { label: root, fs: ext4, size: rest, role: root }] }
`;

describe('ota image for a GRUB EFI board', () => {
  let root: string;
  let fx: FixtureImage;
  let boardYaml: string;
  let img: ImageBuild;
  let r: ImageResult;
  let disk: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ota-grub-efi-'));
    fx = await fixtureImage(join(root, 'img'), 'amd64', boardPackages('amd64', KVER));
    const boardsDir = join(root, 'boards');
    await mkdir(join(boardsDir, 'fxefi'), { recursive: true });
    boardYaml = join(boardsDir, 'fxefi/board.yaml');
    await writeFile(boardYaml, GRUB_EFI_BOARD_YAML);
    await fx.writeManifest([], 'board: fxefi');
    img = (await build({ inputs: [fx.manifest], repoPath: join(fx.dir, 'repo'), cacheDir: fx.cacheDir, env: fx.env, boardsDir })).images[0]!;
    disk = join(root, 'out/disk.img');
    r = await makeImage({ board: boardYaml, repoPath: join(fx.dir, 'repo'), ref: img.ref, output: disk });
  }, 300_000);
  afterAll(async () => {
    await fx?.server.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const esp = () => `${disk}@@${r.plan.partitions[0]!.offsetBytes}`;
  const espFile = async (path: string) => (await run(`read ${path} from the ESP`, ['mcopy', '-i', esp(), `::/${path}`, '-'], { ...MTOOLS, binary: true })).stdout;
  const debugfs = async (cmd: string) => (await run('debugfs', ['debugfs', '-R', cmd, `${disk}?offset=${r.plan.partitions[1]!.offsetBytes}`])).stdout;
  const fromImage = async (path: string) => {
    const repo = await Repo.open(join(fx.dir, 'repo'));
    try {
      return (await catFile(repo, img.ref, path)).toString('utf8');
    } finally {
      repo.close();
    }
  };

  it('holds exactly the GRUB binary, grub.cfg and the grubenv on the ESP', async () => {
    const listing = (await run('mdir', ['mdir', '-b', '-/', '-i', esp(), '::/'], MTOOLS)).stdout;
    expect(listing.split('\n').map((l) => l.trim()).filter((l) => l && !l.endsWith('/')).sort()).toEqual(['::/EFI/BOOT/BOOTX64.EFI', '::/EFI/ota/grub.cfg', '::/EFI/ota/grubenv']);
  });

  it("puts a PE32+ x86-64 EFI application at EFI/BOOT/BOOTX64.EFI, GRUB built from the image's modules with the early config in it", async () => {
    const efi = await espFile('EFI/BOOT/BOOTX64.EFI');
    expect(efi.subarray(0, 2).toString('latin1')).toBe('MZ');
    const pe = efi.readUInt32LE(0x3c);
    expect(efi.subarray(pe, pe + 4)).toEqual(Buffer.from('PE\0\0', 'latin1'));
    expect(efi.readUInt16LE(pe + 4)).toBe(0x8664); // IMAGE_FILE_MACHINE_AMD64
    expect(efi.readUInt16LE(pe + 24)).toBe(0x20b); // PE32+
    expect(efi.readUInt16LE(pe + 24 + 68)).toBe(10); // IMAGE_SUBSYSTEM_EFI_APPLICATION
    expect(efi.includes('configfile (${root})/EFI/ota/grub.cfg')).toBe(true);
    // the image's GRUB (its version is in the normal module GRUB prints at start)
    const status = (await fromImage('/usr/lib/sysimage/dpkg/status')).split('\n\n').find((st) => /^Package: grub-efi-amd64-bin$/m.test(st));
    const version = /^Version: (\S+)$/m.exec(status ?? '')?.[1];
    expect(version).toBeDefined();
    expect(efi.includes(version!)).toBe(true);
  });

  it("renders grub.cfg from OSTree's entry for the deployment: its kernel and initramfs under /boot of the root found by UUID", async () => {
    const cfg = (await espFile('EFI/ota/grub.cfg')).toString('utf8');
    const bootcsum = /\/ostree\/boot\.1\/fx\/([0-9a-f]{64})\/0/.exec(cfg)?.[1];
    expect(bootcsum).toBeDefined();
    const kernel = `/boot/ostree/fx-${bootcsum}/vmlinuz-${KVER}`;
    const initrd = `/boot/ostree/fx-${bootcsum}/initramfs-${KVER}.img`;
    expect(cfg).toContain(`  search --no-floppy --fs-uuid --set=root '${r.rootUuid}'`);
    expect(cfg).toContain(`  linux '${kernel}' 'root=UUID=${r.rootUuid}' 'rw' 'console=ttyS0' 'ostree=/ostree/boot.1/fx/${bootcsum}/0'`);
    expect(cfg).toContain(`  initrd '${initrd}'`);
    expect(cfg).toContain('load_env -f "/EFI/ota/grubenv" bootcount bootlimit rollback upgrade_available');
    expect(cfg).toContain('set default=deb-ota-0');
    // the files GRUB will load are where grub.cfg says, on the file system with that UUID
    expect(await debugfs(`cat ${kernel}`)).toBe(`kernel ${KVER}\n`);
    expect(await debugfs(`cat ${initrd}`)).toContain('initramfs for');
    expect((await run('dumpe2fs', ['dumpe2fs', '-h', `${disk}?offset=${r.plan.partitions[1]!.offsetBytes}`])).stdout).toContain(`Filesystem UUID:          ${r.rootUuid}`);
    await writeFile(join(root, 'grub.cfg'), cfg);
    await run('grub-script-check', ['grub-script-check', join(root, 'grub.cfg')]);
  });

  it("with a second deployment, grub.cfg has both of OSTree's entries, the last deployed as deb-ota-0 and the first as its fallback", async () => {
    const two = await makeImage({ board: boardYaml, repoPath: join(fx.dir, 'repo'), ref: img.ref, alsoDeploy: [img.checksum], output: join(root, 'two.img') });
    const cfg = (await run('read grub.cfg', ['mcopy', '-i', `${two.output}@@${two.plan.partitions[0]!.offsetBytes}`, '::/EFI/ota/grub.cfg', '-'], MTOOLS)).stdout;
    const entries = [...cfg.matchAll(/^menuentry '[^']*\((ostree:\d)\)' --id (deb-ota-\d)[^]*?'ostree=\/ostree\/boot\.\d\/fx\/[0-9a-f]{64}\/(\d)'/gm)].map((m) => m.slice(1));
    // OSTree's order (its BLS titles count from the default) is the menu's; the ostree= link's
    // last number is the deployment's place among those with the same kernel
    expect(entries).toEqual([['ostree:0', 'deb-ota-0', '0'], ['ostree:1', 'deb-ota-1', '1']]);
    expect(cfg).toContain('set default=deb-ota-0\n  set fallback=1');
    // and deb-ota-0's link is the deployment made last
    const link = /--id deb-ota-0[^]*?'ostree=([^']+)'/.exec(cfg)![1]!;
    const target = (await run('debugfs', ['debugfs', '-R', `cat ${link}`, `${two.output}?offset=${two.plan.partitions[1]!.offsetBytes}`])).stdout;
    expect(target.replace(/^(\.\.\/)+/, 'ostree/')).toBe(two.deployments[1]);
    expect(two.deployments[1]).not.toBe(two.deployments[0]);
    await rm(two.output);
  });

  it('writes the initial grubenv: 1024 bytes, nothing pending', async () => {
    const env = await espFile('EFI/ota/grubenv');
    expect(env.length).toBe(GRUBENV_SIZE);
    expect(env.subarray(0, 24).toString('latin1')).toBe('# GRUB Environment Block');
    expect(bootStateFromVars(parseGrubEnv(env, 'grubenv'), 'grubenv')).toEqual({ bootcount: 0, bootlimit: 3, rollback: false, upgradeAvailable: false });
    // grub-editenv, GRUB's own tool, reads the same four variables
    await writeFile(join(root, 'grubenv'), env);
    expect((await run('grub-editenv', ['grub-editenv', join(root, 'grubenv'), 'list'])).stdout).toBe('bootcount=0\nbootlimit=3\nrollback=0\nupgrade_available=0\n');
  });

  it("keeps OSTree's hands off the bootloader: sysroot.bootloader=none, no uEnv.txt, BLS entries only", async () => {
    expect(await debugfs('cat /ostree/repo/config')).toMatch(/^\[sysroot\]\nbootloader=none$/m);
    expect(await debugfs('ls -p /boot/loader/')).not.toContain('uEnv.txt');
    expect(await debugfs('ls -p /boot/loader/entries')).toContain('ostree-1-fx.conf');
  });

  it("builds in every command the two configs run, as the image's command.lst and moddep.lst say", async () => {
    const moddep = new Map((await fromImage('/usr/lib/grub/x86_64-efi/moddep.lst')).trim().split('\n').map((l) => {
      const [mod, deps] = l.split(':') as [string, string];
      return [mod, deps.trim().split(/\s+/).filter(Boolean)];
    }));
    const closure = new Set<string>();
    const add = (m: string) => {
      if (closure.has(m)) return;
      expect(moddep.has(m), `module ${m}`).toBe(true);
      closure.add(m);
      for (const d of moddep.get(m) ?? []) add(d);
    };
    GRUB_EFI_MODULES.forEach(add);
    const provided = new Set(['set', 'unset', 'insmod', 'ls']); // GRUB's kernel commands (kern/corecmd.c)
    for (const line of (await fromImage('/usr/lib/grub/x86_64-efi/command.lst')).trim().split('\n')) {
      const [cmd, mod] = line.split(': ') as [string, string];
      if (closure.has(mod)) provided.add(cmd.replace(/^\*/, ''));
    }
    const { board } = await loadBoard(boardYaml);
    const plan = planGrubEfi(board, { entries: [{ file: 'x', title: 't', version: '1', linux: '/v', initrd: ['/i'], options: 'a', devicetree: undefined }, { file: 'y', title: 't', version: '0', linux: '/v', initrd: ['/i'], options: 'a', devicetree: undefined }], rootUuid: r.rootUuid });
    const KEYWORDS = new Set(['if', 'then', 'elif', 'else', 'fi', 'for', 'do', 'done', 'menuentry', '}']);
    const used = new Set<string>();
    for (const text of [plan.earlyConfig, plan.config.text]) {
      for (const raw of text.split('\n')) {
        if (raw.trim().startsWith('#')) continue;
        for (const part of raw.split(';')) {
          const words = part.trim().split(/\s+/).filter(Boolean);
          while (words.length && ['then', 'else', 'do'].includes(words[0]!)) words.shift();
          if (words[0] === 'if' || words[0] === 'elif') words.shift();
          if (words[0] && !KEYWORDS.has(words[0]) && words[0] !== 'for') used.add(words[0]);
          if (words[0] === 'menuentry') used.add('menuentry');
        }
      }
    }
    used.add('boot'); // what a menu entry runs after its commands
    expect([...used].sort()).toEqual(['[', 'boot', 'configfile', 'echo', 'initrd', 'linux', 'load_env', 'menuentry', 'save_env', 'search', 'set']);
    for (const cmd of used) expect(provided.has(cmd), `command ${cmd}`).toBe(true);
  });
});
