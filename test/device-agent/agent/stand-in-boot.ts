/**
 * The stand-in boot (tests only; it stands in for the bootloader and the kernel at the machine's
 * boundary): what the generated boot script does on a real board, over the device's real files.
 *
 * 1. the bootloader's bookkeeping: bootloader/'s `nextBoot` over the real `ota.env` or grubenv
 *    (count while an upgrade is pending, fall back past the limit), written back when it counts;
 * 2. the entry: OSTree's BLS entry 0 or 1 from `<sysroot>/boot/loader/entries` on U-Boot boards;
 *    on GRUB boards the `deb-ota-N` menu entry of the grub.cfg the agent rendered, so a grub.cfg
 *    left stale after a deploy boots what it says, as GRUB would;
 * 3. the kernel command line that entry passes, written to the file the configuration's
 *    `kernelCommandLine` names, where the agent reads it. The stand-in plays the initramfs's
 *    ostree-prepare-root too: it resolves `ostree=/ostree/boot.N/<os>/<bootcsum>/<serial>` at boot,
 *    while the boot version the bootloader read is current, and passes the deployment it found
 *    (`ostree=/ostree/deploy/<os>/deploy/<checksum>.<serial>`). The `boot.N` path is only good at
 *    boot: the next deploy swaps OSTree's boot version and removes or reuses it, while a real
 *    system keeps running the deployment it mounted (libostree then finds it by its root's inode).
 *
 * A kernel that "panics" is a boot after which the agent is not started: `kernelBoots` says which. A
 * command line whose `ostree=` leads nowhere (a stale grub.cfg after OSTree swapped its boot
 * version) never starts either: the initramfs's ostree-prepare-root finds no deployment to mount.
 */
import { readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { nextBoot, readOstreeBlsEntries, type BootEntry, type BootState } from '../../../bootloader/index.js';
import type { Device } from './device.js';

export interface BootedEntry {
  index: BootEntry;
  /** The commit of the deployment the command line leads to; null when it leads nowhere (ostree-prepare-root fails). */
  commit: string | null;
  /** The kernel command line passed. */
  cmdline: string;
}

export interface StandInBoot {
  entry: BootedEntry;
  /** The bootloader state after this boot's bookkeeping. */
  state: BootState;
  /** Whether the kernel came up (and so the agent may run). */
  started: boolean;
}

export interface StandInBootOptions {
  /** False for a kernel that panics on this entry; default: every kernel boots. */
  kernelBoots?: (entry: BootedEntry) => boolean;
}

/** One boot of the device. Clears the stand-in reboot's requests: the reboot they asked for is this one. */
export async function standInBoot(d: Device, options: StandInBootOptions = {}): Promise<StandInBoot> {
  await rm(d.rebootRequests, { force: true });
  const bls = await readOstreeBlsEntries(join(d.sysroot, 'boot'));
  const decision = nextBoot(await d.backend.getState(), bls.length > 1);
  if (decision.saved) await d.backend.setState(decision.state);
  const passed = d.bootloader.kind === 'grub' ? await grubCommandLine(d.bootloader.configPath, decision.entry) : bls[decision.entry]!.options;
  const deployment = await deploymentOfCommandLine(d.sysroot, passed).catch(() => null);
  const cmdline = deployment === null ? passed : passed.replace(/(^|\s)ostree=\S+/, `$1ostree=/${deployment}`);
  await writeFile(d.cmdline, `${cmdline}\n`);
  const commit = deployment === null ? null : commitOfDeployment(deployment);
  const entry = { index: decision.entry, commit, cmdline };
  return { entry, state: decision.state, started: commit !== null && (options.kernelBoots?.(entry) ?? true) };
}

/**
 * The deployment a kernel command line boots, as ostree-prepare-root finds it: `ostree=` names a
 * symlink under the sysroot that leads to `ostree/deploy/<os>/deploy/<checksum>.<serial>`
 * (returned relative to the sysroot).
 */
async function deploymentOfCommandLine(sysroot: string, cmdline: string): Promise<string> {
  const arg = /(?:^|\s)ostree=(\S+)/.exec(cmdline)?.[1];
  if (!arg) throw new Error(`no ostree= in the kernel command line ${JSON.stringify(cmdline)}`);
  const target = relative(await realpath(sysroot), await realpath(join(sysroot, arg)));
  commitOfDeployment(target);
  return target;
}

function commitOfDeployment(path: string): string {
  const m = /^ostree\/deploy\/[^/]+\/deploy\/([0-9a-f]{64})\.\d+$/.exec(path);
  if (!m) throw new Error(`${path} is not a deployment`);
  return m[1]!;
}

/** The commit of the deployment a kernel command line boots (the stand-in boot's, or the bootloader's at boot). */
export async function commitOfCommandLine(sysroot: string, cmdline: string): Promise<string> {
  return commitOfDeployment(await deploymentOfCommandLine(sysroot, cmdline));
}

/** The options of grub.cfg's `deb-ota-N` entry (bootloader/grub/config.ts quotes each word); GRUB's fallback when it has none. */
async function grubCommandLine(configPath: string, index: BootEntry): Promise<string> {
  const text = await readFile(configPath, 'utf8');
  const entry = (n: number) => new RegExp(`^menuentry .* --id deb-ota-${n} \\{\\n(?:.*\\n)*?\\s*linux (.*)\\n`, 'm').exec(text)?.[1];
  const line = entry(index) ?? entry(index === 1 ? 0 : 1);
  if (line === undefined) throw new Error(`${configPath} has no deb-ota menu entry to boot`);
  const words = [...line.matchAll(/'((?:[^']|'\\'')*)'/g)].map((m) => m[1]!.replace(/'\\''/g, "'"));
  return words.slice(1).join(' ');
}
