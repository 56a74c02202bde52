/**
 * The one place the agent's parts are joined from its configuration (docs/agent.md, "Joining the parts"): the
 * state store, the sysroot and which deployment runs, the board's bootloader backend, the update steps, the
 * health runner, the policy, the reboot command, and where events go. The daemon, every verb and the crash
 * tests open the agent here, so they all drive the same machine.
 *
 * @example
 * const agent = await openAgent(config, { emit: (e) => journal(e) });
 * try { await agent.machine.resume(); } finally { agent.close(); }
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import type { OtaEvent } from '../../common/events.js';
import { run } from '../../common/exec.js';
import { loadTrustedKeys } from '../../contract/index.js';
import { Sysroot } from '../../node-ostree/index.js';
import { bootloaderBackendFor } from '../config/bootloader.js';
import type { AgentConfig } from '../config/schema.js';
import { inMaintenanceWindow } from '../config/window.js';
import type { AgentDeps, EngineEvent, UpdateSteps } from '../engine/deps.js';
import { AgentMachine, type MachineOptions } from '../engine/machine.js';
import { StateStore } from '../engine/store.js';
import { sysrootView } from '../engine/sysroot-view.js';
import { createHealthRunner } from '../health/runner.js';
import type { GrubTarget } from '../update/deploy.js';
import { updateSteps } from '../update/steps.js';
import { bootedFromCommandLine } from './booted.js';
import { progressWriter } from './progress.js';

/** What the agent reports: the engine's transitions and the update steps' fetch events. */
export type AgentOutEvent = EngineEvent | OtaEvent;

export interface OpenAgentOptions {
  /** Called after every save of the record (the crash tests' kill hook). */
  onSaved?: MachineOptions['onSaved'];
  /** Where events go: the journal in the daemon, lines on the terminal in a verb; nowhere by default. */
  emit?: (e: AgentOutEvent) => void;
  now?: () => Date;
  /** Asked before each state's work: true ends the run where the next start continues (the daemon's SIGTERM). */
  shouldStop?: () => boolean;
}

export interface Agent {
  machine: AgentMachine;
  store: StateStore;
  steps: UpdateSteps;
  /** libostree's sysroot the agent works on (its deployments, their origins). */
  sysroot: Sysroot;
  /** The commit running now, as the engine sees it (libostree's booted deployment, or the command line's). */
  bootedCommit(): Promise<string | null>;
  /** Releases libostree's sysroot; the progress file's last write is awaited by `settled`. */
  close(): void;
  /** Resolves once the progress file's writes begun so far are done. */
  settled(): Promise<void>;
}

/** The download directory: partial delta parts wait here until applied (docs/agent.md, "Applying an update"). */
export const downloadDir = (config: AgentConfig) => join(config.stateDir, 'download');

export async function openAgent(config: AgentConfig, options: OpenAgentOptions = {}): Promise<Agent> {
  const now = options.now ?? (() => new Date());
  const emitOut = options.emit ?? (() => {});
  const trusted = await loadTrustedKeys(config.trustedKeys);
  const sysroot = await openSysroot(config.sysroot);
  const progress = progressWriter({ stateDir: config.stateDir, now });
  let updateId: string | null = null;
  const emit = (e: AgentOutEvent) => {
    if (e.phase === 'agent') {
      updateId = e.updateId;
      if (e.state !== 'downloading') void progress.ended();
    } else if (updateId !== null) progress.fetched(updateId, e);
    emitOut(e);
  };
  const steps = updateSteps({
    sysroot,
    trusted,
    device: { board: config.board, arch: config.arch },
    remote: config.remote,
    group: config.group,
    osname: config.osname,
    downloadDir: downloadDir(config),
    ...grubOf(config),
    // An update that leaves less free space than the health check requires would fail that check after the reboot.
    reserveBytes: config.health.minFreeDiskBytes,
    onEvent: emit,
  });
  const deps: AgentDeps = {
    sysroot: sysrootView(sysroot, { bootedCommit: () => bootedCommit(sysroot, config) }),
    bootloader: bootloaderBackendFor(config.bootloader),
    update: steps,
    health: createHealthRunner(config.health, { diskPath: config.sysroot }),
    policy: { reboot: config.policy.reboot, mayApply: (at) => inMaintenanceWindow(config.policy.maintenanceWindow, at) },
    clock: { now },
    reboot: async () => void (await run('asking the system to reboot', config.rebootCommand)),
    emit,
  };
  const store = new StateStore({ dir: config.stateDir });
  const machine = new AgentMachine({ store, deps, ...(options.onSaved ? { onSaved: options.onSaved } : {}), ...(options.shouldStop ? { shouldStop: options.shouldStop } : {}) });
  return {
    machine,
    store,
    steps,
    sysroot,
    bootedCommit: () => deps.sysroot.bootedCommit(),
    close: () => sysroot.close(),
    settled: () => progress.settled(),
  };
}

/**
 * The running commit: libostree's booted deployment on a booted system; elsewhere the deployment the kernel
 * command line's `ostree=` leads to, as ostree-prepare-root finds it (booted.ts).
 */
async function bootedCommit(sysroot: Sysroot, config: AgentConfig): Promise<string | null> {
  await sysroot.load();
  const booted = sysroot.deployments().find((d) => d.role === 'booted');
  if (booted !== undefined) return booted.checksum;
  return (await bootedFromCommandLine({ sysroot: config.sysroot, cmdlinePath: config.kernelCommandLine }))?.checksum ?? null;
}

function grubOf(config: AgentConfig): { grub?: GrubTarget } {
  const b = config.bootloader;
  if (b.kind !== 'grub') return {};
  const bootlimit = b.bootlimit === undefined ? {} : { defaultBootlimit: b.bootlimit };
  return { grub: { configPath: b.configPath, options: { env: b.envLocation, boot: b.bootLocation, ...bootlimit } } };
}

/** Sysroot.open would create a missing folder: a wrong path must be an error, not a new empty sysroot. */
async function openSysroot(path: string): Promise<Sysroot> {
  try {
    await access(join(path, 'ostree/repo/config'));
  } catch {
    throw new OtaError('ERR_OTA_OSTREE', `${path} is not an OSTree sysroot: ${path}/ostree/repo/config is missing`, {
      hint: 'set sysroot in /etc/ota/agent.yaml (`/` on a device); see docs/agent.md, "Configuration"',
    });
  }
  const sysroot = await Sysroot.open(path);
  await sysroot.load();
  return sysroot;
}
