/**
 * The handlers' view of a real sysroot (deps.ts, SysrootView) over node-ostree's Sysroot. The list is read
 * again from disk before each answer, because the handlers run again after a restart and after other
 * processes (ostree-finalize-staged, `ostree admin`) changed it. Only the type is imported here, so the engine
 * loads libostree only when the agent hands it a Sysroot for update work.
 *
 * @example
 * const view = sysrootView(await Sysroot.open('/'));            // booted: libostree knows what runs
 * const test = sysrootView(sr, { bootedCommit: () => standIn.booted() }); // a directory: the stand-in reboot says
 */
import type { Sysroot } from '../../node-ostree/index.js';
import type { DeploymentInfo, SysrootView } from './deps.js';

export interface SysrootViewOptions {
  /** Which commit runs, where libostree cannot tell (a sysroot that is a directory in tests). */
  bootedCommit?: () => Promise<string | null>;
}

export function sysrootView(sysroot: Sysroot, options: SysrootViewOptions = {}): SysrootView {
  const list = async () => {
    await sysroot.load();
    return sysroot.deployments();
  };
  return {
    deployments: async (): Promise<DeploymentInfo[]> => (await list()).map((d) => ({ index: d.index, checksum: d.checksum, staged: d.staged })),
    bootedCommit: options.bootedCommit ?? (async () => (await list()).find((d) => d.role === 'booted')?.checksum ?? null),
    setDefault: (index) => sysroot.setDefault(index),
    undeploy: (index) => sysroot.undeploy(index),
  };
}
