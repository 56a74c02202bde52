/**
 * The ONE dependencies object every handler gets (docs/agent.md, "The state machine"): everything a handler
 * touches outside the record goes through it, so the handlers read as the update's logic and the tests choose
 * what is real. On a device each member wraps the real thing (node-ostree's Sysroot, the board's bootloader
 * backend, the update/ functions, the health/ runner, systemctl reboot); a unit test of the table may pass a
 * recording object, and says so in its name.
 *
 * The update functions take the release as the signed JWS the record keeps, not as a parsed object: after a
 * restart the record is all the agent has, so every step must be able to start again from it.
 *
 * @example
 * const deps: AgentDeps = { sysroot, bootloader: ubootBackend({ envPath }), update, health, policy,
 *   clock: { now: () => new Date() }, reboot: () => systemctlReboot(), emit: (e) => journal(e) };
 */
import type { BootloaderBackend } from '../../bootloader/index.js';
import type { Intent } from './record.js';
import type { AgentEvent, State } from './states.js';

/** One deployment as the handlers see it (a subset of node-ostree's Deployment). */
export interface DeploymentInfo {
  /** Position in OSTree's boot order: 0 is the default. */
  index: number;
  checksum: string;
  staged: boolean;
}

/** The sysroot as the handlers use it. */
export interface SysrootView {
  /** Deployments in boot order, read again from disk. */
  deployments(): Promise<DeploymentInfo[]>;
  /**
   * The commit running now, null when unknown. On a device: libostree's booted deployment. A sysroot that is a
   * directory has none, so tests answer from the stand-in reboot's record of what the bootloader booted.
   */
  bootedCommit(): Promise<string | null>;
  /** Makes the deployment at `index` OSTree's default (`ostree admin set-default`). */
  setDefault(index: number): Promise<void>;
  /** Removes the deployment at `index` (never the booted one). */
  undeploy(index: number): Promise<void>;
}

/** What the steps need from the record to start again from it (docs/agent.md, "Applying an update"). */
export interface UpdateTarget {
  intent: Intent;
  /** The signed release; null for a rollback (and for an upgrade before checking fetched it). */
  releaseJws: string | null;
  /** The offline bundle, absolute (install only). */
  bundlePath: string | null;
  /** Rollback and deploy: a deployment or release at or below the floor is allowed (a deploy's release minVersion still applies). */
  belowFloor: boolean;
  /** The device's accepted floor (AgentRecord.floor). */
  floor: string | null;
  /** The commit running when the update began (the engine's view: bootedCommit()). */
  fromCommit: string | null;
  /** Known from checking on: the commit to deploy. */
  toCommit: string | null;
}

/** What a go verdict names (a rollback has no manifest, so not the whole ReleaseManifest). */
export interface UpdateTargetInfo {
  ref: string;
  version: string | null;
  commit: string;
  minVersion: string | null;
}

/** What preflight decided (the refusals change nothing on the device). */
export type PreflightVerdict =
  | { verdict: 'go'; target: UpdateTargetInfo; releaseJws: string | null }
  /** The target is the commit running now: nothing to do, and nothing to report. */
  | { verdict: 'upToDate'; target: UpdateTargetInfo }
  /** Not for this device, below the floor, too big for the disk...: the message says which and why. */
  | { verdict: 'refused'; reason: string };

/** The device-side effects of an update (update/), each able to start again from the record's target. */
export interface UpdateSteps {
  /** The group's signed release: `<remote>/groups/<group>/release.jws`. */
  fetchRelease(): Promise<string>;
  /**
   * The group's signed rollout beside its release, `<remote>/groups/<group>/rollout.jws` (docs/agent.md,
   * "Rollouts"): null when there is none (404).
   */
  fetchRollout?(): Promise<string | null>;
  /** A named version's signed release: `<remote>/releases/<ref>/<version>.jws`. */
  fetchVersion(ref: string, version: string): Promise<string>;
  /** Verifies the target (signature, board, arch, floor, version, disk space; a rollback's deployment) against the running system. */
  preflight(t: UpdateTarget): Promise<PreflightVerdict>;
  /** Brings the commit into the sysroot's repository (resuming what an earlier run left); a rollback fetches nothing. */
  download(t: UpdateTarget): Promise<void>;
  /** Makes the commit the next default (a rollback: its existing deployment); renders grub.cfg on GRUB boards. */
  deploy(t: UpdateTarget): Promise<{ commit: string }>;
  /** After OSTree's boot order changed on a rollback: grub.cfg rendered again on GRUB boards, nothing on U-Boot. */
  renderBootConfig(): Promise<void>;
  /** Removes deployments beyond the booted one and one rollback. */
  prune(): Promise<void>;
  /** Removes download leftovers (`<downloadDir>/<commit>/`) of every commit but `keep`. */
  cleanDownloads(keep: string | null): Promise<void>;
}

/** One check's result as the engine reads it (health/'s CheckResult has these and more). */
export interface HealthCheckView {
  name: string;
  status: string;
  detail: string;
}

/** A health run's verdict as the engine reads it (health/'s HealthReport). */
export interface HealthView {
  ok: boolean;
  deadlineHit: boolean;
  required: HealthCheckView[];
  wanted: HealthCheckView[];
}

export interface HealthRunnerView {
  run(): Promise<HealthView>;
}

/** The policy part of the configuration the engine needs. */
export interface AgentPolicy {
  /** auto: the agent reboots into the update; manual: a person does, and the agent verifies on the next start. */
  reboot: 'auto' | 'manual';
  /** Whether an update may be applied at `at` (the maintenance window; always true without one). */
  mayApply(at: Date): boolean;
}

/** What the engine reports as it goes: every transition, for the journal, status and MQTT events. */
export interface EngineEvent {
  phase: 'agent';
  updateId: string | null;
  /** The state entered, and the event or mark that led there. */
  state: State;
  event: AgentEvent | 'resume' | 'stateLoop';
  message: string;
  level?: 'info' | 'warning';
}

export interface AgentDeps {
  sysroot: SysrootView;
  bootloader: BootloaderBackend;
  update: UpdateSteps;
  health: HealthRunnerView;
  policy: AgentPolicy;
  clock: { now(): Date };
  /** Asks for a reboot. On a device it returns and the system goes down soon after; tests use a stand-in. */
  reboot(): Promise<void>;
  emit(event: EngineEvent): void;
}
