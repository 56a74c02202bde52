/**
 * Repairing the boot order on start (docs/agent.md, "Repair on start"), as data: whether a device that rests
 * in idle needs its booted deployment made the default again, and the update record that does it. It happens
 * after the loop breaker gave up while the bootloader was still armed: when the bootloader later falls back,
 * OSTree's default is still the failed deployment and nobody clears the flags. The repair is an update with
 * intent `repair` that enters rollingBack through the table (idle, `repair`), so the rolling-back path does
 * the work and the result explains it in `ota-agent status`.
 *
 * @example
 * const plan = repairPlan(record, await bootloader.getState(), await sysroot.bootedCommit());
 * if (plan !== null) record = beginRepair(record, plan, { id: 'repair-1767225600', at, to: 'rollingBack' });
 */
import type { BootState } from '../../bootloader/index.js';
import { beginUpdate, type AgentRecord, type RollbackReason } from './record.js';
import type { State } from './states.js';

export interface RepairPlan {
  /** The booted deployment's commit: what becomes the default again. */
  fromCommit: string;
  /** The failed update's commit, whose deployments ahead of the booted one go; null when none is known. */
  toCommit: string | null;
  version: string | null;
  reason: RollbackReason;
  /** One line for the log: what was found and what is done. */
  detail: string;
}

/**
 * Null when nothing needs repair: an update is in progress, the bootloader has neither an armed upgrade nor its
 * rollback flag, the booted deployment is unknown, or the failed update's own deployment runs (a crash loop
 * the bootloader has not ended yet: it falls back on its own, and marking it good would keep it).
 */
export function repairPlan(record: AgentRecord, boot: BootState, booted: string | null): RepairPlan | null {
  if (record.state !== 'idle' || record.update !== null) return null;
  if (!boot.upgradeAvailable && !boot.rollback) return null;
  if (booted === null) return null;
  const failed = record.lastResult !== null && record.lastResult.result !== 'committed' ? record.lastResult : null;
  const toCommit = failed?.toCommit ?? null;
  if (booted === toCommit) return null;
  const flags = [boot.upgradeAvailable ? 'an upgrade armed' : null, boot.rollback ? 'its rollback flag set' : null].filter((f) => f !== null).join(' and ');
  const after = failed === null ? '' : ` after update ${failed.id}${failed.version === null ? '' : ` (${failed.version})`} ${failed.result}`;
  return {
    fromCommit: booted,
    toCommit,
    version: failed?.version ?? null,
    reason: boot.rollback ? 'bootloader-fallback' : 'failed',
    detail: `the bootloader has ${flags} while no update runs${after}: ${booted.slice(0, 12)} runs and becomes the default again`,
  };
}

/** The record that starts the repair: an update with intent `repair`, in `to` (the table's state after idle on `repair`). */
export function beginRepair(record: AgentRecord, plan: RepairPlan, o: { id: string; at: Date; to: State }): AgentRecord {
  const begun = beginUpdate(record, { id: o.id, at: o.at, intent: 'repair' });
  const update = {
    ...begun.update!,
    fromCommit: plan.fromCommit,
    toCommit: plan.toCommit,
    version: plan.version,
    rollbackReason: plan.reason,
    log: [{ at: o.at.toISOString(), state: o.to, event: 'repair' as const, detail: plan.detail }],
  };
  return { ...begun, state: o.to, update };
}
