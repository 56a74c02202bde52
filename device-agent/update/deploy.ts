import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { readOstreeBlsEntries, renderGrubConfig, type GrubConfigOptions } from '../../bootloader/index.js';
import type { Deployment, Sysroot } from '../../node-ostree/index.js';

/**
 * Deploying a downloaded commit, pruning old deployments, and keeping a GRUB board's grub.cfg in
 * step with OSTree's boot entries (docs/agent.md, "Applying an update").
 *
 * @example
 * const d = await deployUpdate({ sysroot, osname: 'debian', commit, refspec: 'gw/arm64', grub });
 * await prune(sysroot, { grub });
 */
export interface GrubTarget {
  /** The grub.cfg GRUB reads (board.yaml's ESP path, e.g. /boot/efi/EFI/ota/grub.cfg). */
  configPath: string;
  options: GrubConfigOptions;
}

export interface DeployInput {
  sysroot: Sysroot;
  osname: string;
  commit: string;
  /** The deployment's origin (default: the checksum). */
  refspec?: string;
  kargs?: string[];
  /** Set on GRUB boards: grub.cfg is rendered again from the new entries. */
  grub?: GrubTarget;
}

/**
 * Deploys `commit` as the next default. On a booted system it is staged (finalised by
 * ostree-finalize-staged at shutdown, so a crash before then leaves the old boot order) except on
 * GRUB boards: OSTree writes a staged deployment's boot entries only at shutdown, after the agent
 * could render grub.cfg from them, so there the deployment is written at once and grub.cfg right
 * after. A sysroot that is not booted (a directory) always gets a plain deploy.
 */
export async function deployUpdate(input: DeployInput): Promise<Deployment> {
  const { sysroot } = input;
  const booted = sysroot.deployments().some((d) => d.role === 'booted');
  const d = await sysroot.deploy(input.osname, input.commit, {
    staged: booted && !input.grub,
    // Nothing is removed until the new deployment is proven: prune() runs after the commit.
    retain: true,
    ...(input.refspec ? { refspec: input.refspec } : {}),
    ...(input.kargs ? { kargs: input.kargs } : {}),
  });
  if (input.grub) await renderGrub(sysroot, input.grub);
  return d;
}

/** Writes grub.cfg from the sysroot's current BLS entries (atomically: GRUB sees the old file or the new one). */
export async function renderGrub(sysroot: Sysroot, grub: GrubTarget): Promise<void> {
  const entries = await readOstreeBlsEntries(join(sysroot.path, 'boot'));
  await writeFileAtomic(grub.configPath, renderGrubConfig(entries, grub.options));
}

/**
 * Which deployments to remove: all but the running one (booted, or the default in a sysroot that
 * is not booted), a pending one, and one rollback (the first other in boot order). Indices, highest
 * first, so removing them one by one keeps the rest in place.
 */
export function pruneSelection(list: readonly Deployment[]): number[] {
  const running = list.find((d) => d.role === 'booted') ?? list[0];
  const keep = new Set<Deployment>();
  if (running) keep.add(running);
  const pending = list.find((d) => d.role === 'pending');
  if (pending) keep.add(pending);
  const rollback = list.find((d) => !keep.has(d));
  if (rollback) keep.add(rollback);
  return list.filter((d) => !keep.has(d)).map((d) => d.index).sort((a, b) => b - a);
}

/** Removes the deployments pruneSelection names, cleans up, and renders grub.cfg again on GRUB boards. */
export async function prune(sysroot: Sysroot, options: { grub?: GrubTarget } = {}): Promise<Deployment[]> {
  const list = sysroot.deployments();
  const removed: Deployment[] = [];
  for (const index of pruneSelection(list)) {
    removed.push(list.find((d) => d.index === index)!);
    await sysroot.undeploy(index);
  }
  await sysroot.cleanup();
  if (options.grub) await renderGrub(sysroot, options.grub);
  return removed;
}
