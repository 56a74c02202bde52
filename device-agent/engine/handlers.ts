/**
 * One handler per state (docs/agent.md, "The state machine"). A handler does its state's work through the
 * dependencies object and returns an event, a detail for the log and what it learned (a patch of the update
 * record); it never names the next state. Handlers that may run again after a crash (transitions.ts, RESUME)
 * look at the sysroot and the bootloader before changing them, so a second run finishes what the first began.
 * A handler that throws is the event `failed`, with the error's message as the detail (machine.ts).
 */
import { armForUpgrade, clearRollback, markGood, requestRollback } from '../../bootloader/index.js';
import { compareVersions } from '../../contract/index.js';
import type { AgentDeps, HealthView, UpdateTarget } from './deps.js';
import { resultOf, skippedRelease, skipText, type SkippedRelease, type UpdatePatch, type UpdateRecord } from './record.js';
import type { AgentEvent, State } from './states.js';

export interface HandlerResult {
  event: AgentEvent;
  detail?: string;
  patch?: UpdatePatch;
  /** The device's new floor (AgentRecord.floor); only committing raises it. */
  floor?: string;
  /** The edge is logged as a warning (its detail starts with `warning:`): a wanted check failed, a prune failed. */
  warning?: boolean;
}

/** The handler's view of the device beyond the update: the floor it accepted, the releases it rolled back from. */
export interface DeviceView {
  floor: string | null;
  skippedReleases: readonly SkippedRelease[];
}

export type Handler = (update: UpdateRecord, deps: AgentDeps, device: DeviceView) => Promise<HandlerResult>;

/** What the update steps start again from: the record's update and the device's floor. */
export function targetOf(update: UpdateRecord, device: DeviceView): UpdateTarget {
  const { intent, releaseJws, bundlePath, belowFloor, fromCommit, toCommit } = update;
  return { intent, releaseJws, bundlePath, belowFloor, floor: device.floor, fromCommit, toCommit };
}

/** The signed release checking considers: the group's for an upgrade; deploy and install brought theirs; a rollback has none. */
async function releaseFor(update: UpdateRecord, deps: AgentDeps): Promise<string | null> {
  if (update.intent === 'rollback') return null;
  if (update.intent === 'upgrade') return update.releaseJws ?? (await deps.update.fetchRelease());
  if (update.releaseJws === null) throw new Error(`update ${update.id} (${update.intent}) began without its release, this is a bug`);
  return update.releaseJws;
}

async function checking(update: UpdateRecord, deps: AgentDeps, device: DeviceView): Promise<HandlerResult> {
  const releaseJws = await releaseFor(update, deps);
  const fromCommit = await deps.sysroot.bootedCommit();
  const v = await deps.update.preflight({ ...targetOf(update, device), releaseJws, fromCommit });
  if (v.verdict === 'refused') return { event: 'refused', detail: v.reason };
  if (v.verdict === 'upToDate') return { event: 'upToDate', detail: `${v.target.ref} ${v.target.version ?? v.target.commit.slice(0, 12)} is running` };
  const { ref, version, commit, minVersion } = v.target;
  // The group's release that was rolled back is not tried again at every poll; a person may ask for it by name.
  const skipped = update.intent === 'upgrade' ? skippedRelease(device.skippedReleases, commit) : undefined;
  if (skipped !== undefined) return { event: 'upToDate', detail: `${ref} ${skipText(skipped)}` };
  return {
    event: 'updateAvailable',
    detail: `${ref} ${version ?? '(no version)'} (${commit.slice(0, 12)})`,
    patch: { releaseJws: v.releaseJws, ref, version, toCommit: commit, fromCommit, minVersion },
  };
}

async function downloading(update: UpdateRecord, deps: AgentDeps, device: DeviceView): Promise<HandlerResult> {
  await deps.update.download(targetOf(update, device));
  if (update.downloadOnly) return { event: 'applyLater', detail: 'download only' };
  if (!deps.policy.mayApply(deps.clock.now())) return { event: 'applyLater', detail: 'outside the maintenance window' };
  return { event: 'downloaded' };
}

/** Arms the counter before anything is deployed (transitions.ts): fixed values, so a re-run changes nothing. */
async function arming(_update: UpdateRecord, deps: AgentDeps): Promise<HandlerResult> {
  const state = await deps.bootloader.setState(armForUpgrade(await deps.bootloader.getState()));
  return { event: 'armed', detail: `bootlimit ${state.bootlimit}` };
}

/** Deploys the commit (a rollback: makes its deployment the default), then checks it is the next to boot. */
async function deploying(update: UpdateRecord, deps: AgentDeps, device: DeviceView): Promise<HandlerResult> {
  const { commit } = await deps.update.deploy(targetOf(update, device));
  if (update.toCommit !== null && commit !== update.toCommit) {
    throw new Error(`deployed ${commit} but the update names ${update.toCommit}`);
  }
  const list = await deps.sysroot.deployments();
  const target = list.find((d) => d.checksum === commit);
  if (target === undefined || (target.index !== 0 && !target.staged)) {
    return { event: 'failed', detail: `the deployment of ${commit.slice(0, 12)} is not the next to boot`, patch: { rollbackReason: 'failed' } };
  }
  return { event: 'deployed', detail: commit.slice(0, 12), patch: { toCommit: commit } };
}

async function rebooting(update: UpdateRecord, deps: AgentDeps): Promise<HandlerResult> {
  // A rollback never waits for a person: the device runs a deployment that failed its checks.
  if (deps.policy.reboot === 'manual' && update.rollbackReason === null) return { event: 'rebootDeferred', detail: 'reboot: manual' };
  await deps.reboot();
  return { event: 'rebootRequested' };
}

function failures(h: HealthView): string {
  const bad = h.required.filter((c) => c.status !== 'passed').map((c) => `${c.name} ${c.status}: ${c.detail}`);
  return [...(h.deadlineHit ? ['the deadline passed'] : []), ...bad].join('; ');
}

/** Which deployment booted decides: the new one is checked, the old one means a fallback or no reboot yet. */
async function verifying(update: UpdateRecord, deps: AgentDeps): Promise<HandlerResult> {
  const booted = await deps.sysroot.bootedCommit();
  const boot = await deps.bootloader.getState();
  if (booted !== null && booted === update.toCommit && booted !== update.fromCommit) {
    // A rollback was asked for (its reboot cut short): the update still runs, so reboot again.
    if (boot.rollback && update.rollbackReason !== null) return { event: 'notRebooted', detail: 'the rollback reboot has not happened' };
    const h = await deps.health.run();
    if (h.ok) {
      const warned = h.wanted.filter((c) => c.status !== 'passed').map((c) => `${c.name} ${c.status}: ${c.detail}`);
      // A wanted check only warns (docs/agent.md, "Health checks"): in the events and in status.
      if (warned.length > 0) return { event: 'healthy', detail: `warning: wanted checks failed: ${warned.join('; ')}`, warning: true };
      return { event: 'healthy', detail: 'all checks passed' };
    }
    return { event: 'unhealthy', detail: failures(h), patch: { rollbackReason: h.deadlineHit ? 'deadline' : 'unhealthy' } };
  }
  if (booted !== null && booted === update.fromCommit) {
    if (boot.rollback) {
      const detail = `the previous deployment booted with the bootloader's rollback flag set (bootcount ${boot.bootcount}, bootlimit ${boot.bootlimit})`;
      return { event: 'fellBack', detail, patch: { rollbackReason: update.rollbackReason ?? 'bootloader-fallback' } };
    }
    const pending = (await deps.sysroot.deployments()).some((d) => d.checksum === update.toCommit && (d.index === 0 || d.staged));
    if (boot.upgradeAvailable && pending) return { event: 'notRebooted' };
    return { event: 'failed', detail: 'the previous deployment runs and the update is no longer next to boot', patch: { rollbackReason: update.rollbackReason ?? 'failed' } };
  }
  return { event: 'failed', detail: `booted commit ${booted ?? 'unknown'} is neither the update nor the previous one`, patch: { rollbackReason: 'failed' } };
}

async function committing(update: UpdateRecord, deps: AgentDeps, device: DeviceView): Promise<HandlerResult> {
  const booted = await deps.sysroot.bootedCommit();
  if (booted !== update.toCommit) return { event: 'failed', detail: `not committing: ${booted ?? 'an unknown commit'} runs, not the update`, patch: { rollbackReason: 'failed' } };
  await deps.bootloader.setState(markGood(await deps.bootloader.getState()));
  // Marked good, the update is committed: from here on a failure is a warning, never a rollback.
  const pruned = await prune(deps);
  await cleanDownloads(update, deps, ['reporting', 'committed']);
  // The floor only rises: a release that raised it is one the device may never go below again.
  const raised = update.minVersion !== null && (device.floor === null || compareVersions(update.minVersion, device.floor) > 0);
  const detail = [pruned, raised ? `floor ${update.minVersion}` : null].filter((d) => d !== null).join('; ');
  const floor = raised && update.minVersion !== null ? { floor: update.minVersion } : {};
  return { event: 'committed', ...floor, ...(detail === '' ? {} : { detail }), ...(pruned === null ? {} : { warning: true }) };
}

/** Prunes old deployments; a failure is a warning for the log, and the next commit prunes again. */
async function prune(deps: AgentDeps): Promise<string | null> {
  try {
    await deps.update.prune();
    return null;
  } catch (e) {
    return `warning: could not prune old deployments: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/**
 * Running the new deployment: ask the bootloader for the previous one and reboot. Running the previous one:
 * the failed deployment removed (so the previous is OSTree's default), boot config rendered again, and only
 * then the bootloader's rollback flag cleared (docs/conventions.md, "The safety order").
 */
async function rollingBack(update: UpdateRecord, deps: AgentDeps): Promise<HandlerResult> {
  const booted = await deps.sysroot.bootedCommit();
  const bl = deps.bootloader;
  if (booted !== null && booted === update.toCommit && booted !== update.fromCommit) {
    await bl.setState(requestRollback(await bl.getState()));
    return { event: 'rollbackRebootNeeded', detail: 'the update runs: rebooting into the previous deployment' };
  }
  // A rollback's target was on disk before the update began: only a deployment the update wrote is removed.
  if (update.intent !== 'rollback') await removeDeployments(deps, update.toCommit, booted);
  const list = await deps.sysroot.deployments();
  const previous = list.find((d) => d.checksum === booted);
  if (previous !== undefined && previous.index !== 0) await deps.sysroot.setDefault(previous.index);
  await deps.update.renderBootConfig();
  const state = await bl.getState();
  if (state.rollback || state.upgradeAvailable) await bl.setState(clearRollback({ ...state, upgradeAvailable: false }));
  return { event: 'rolledBack', detail: `back on ${booted?.slice(0, 12) ?? 'the previous deployment'}` };
}

/**
 * Removes the deployments of `commit` the update wrote, one at a time (indices shift with each removal). A
 * deploy goes ahead of the booted deployment in boot order, so one of the same commit behind it was on disk
 * before (deploy VERSION of the rollback deployment's version) and is kept. When the booted deployment is not
 * in the list, every deployment of `commit` goes.
 */
async function removeDeployments(deps: AgentDeps, commit: string | null, booted: string | null): Promise<void> {
  for (let left = (await deps.sysroot.deployments()).length; left > 0; left--) {
    const list = await deps.sysroot.deployments();
    const ahead = list.find((d) => d.checksum === booted)?.index ?? Number.POSITIVE_INFINITY;
    const stale = list.find((d) => d.checksum === commit && d.checksum !== booted && d.index < ahead);
    if (stale === undefined) return;
    await deps.sysroot.undeploy(stale.index);
  }
}

/**
 * Leftovers only waste space: failing to remove them is a warning, never a reason to roll back or fail. The
 * warning names the edge the handler is about to take.
 */
async function cleanDownloads(update: UpdateRecord, deps: AgentDeps, [state, event]: [State, AgentEvent]): Promise<void> {
  try {
    await deps.update.cleanDownloads(null);
  } catch (e) {
    const message = `could not remove download leftovers: ${e instanceof Error ? e.message : String(e)}`;
    deps.emit({ phase: 'agent', updateId: update.id, state, event, message, level: 'warning' });
  }
}

async function reporting(update: UpdateRecord, deps: AgentDeps): Promise<HandlerResult> {
  const r = resultOf(update, deps.clock.now());
  const message = `update ${update.id}${r.version === null ? '' : ` (${r.version})`}: ${r.result}${r.reason === null ? '' : `: ${r.reason}`}`;
  deps.emit({ phase: 'agent', updateId: update.id, state: 'reporting', event: 'reported', message, level: r.result === 'committed' ? 'info' : 'warning' });
  // Leftovers of a cut download matter only while its update runs; a new update starts from its own.
  if (r.result !== 'committed') await cleanDownloads(update, deps, ['idle', 'reported']);
  return { event: 'reported', detail: r.result };
}

/** The handler of every working state; resting states have none (the machine stops there). */
export const HANDLERS: Readonly<Partial<Record<State, Handler>>> = {
  checking,
  downloading,
  arming,
  deploying,
  rebooting,
  verifying,
  committing,
  rollingBack,
  reporting,
};
