/**
 * What a fleet rollback expects of each device and what has come back, as data
 * (docs/fleet.md, "ota fleet rollback"; docs/conventions.md, "Plan as data"). The plan is made
 * from the retained statuses read before the command is published: which devices it is for, and
 * for each what "back" means (the version asked for, or the rollback deployment its status named).
 * Then each status and event the devices publish moves a device's track: accepted (its
 * `command-received`, or a status carrying the command's nonce as its update), and at last
 * confirmed (booted on the target, idle or committed after its health checks), refused, failed or
 * skipped (not on `onlyFrom`). Neither "staged" nor "rebooting" confirms anything.
 *
 * @example
 * const plan = planRollback({ statuses, scope: { group: 'lab' }, to: '1.1', onlyFrom: null });
 * trackEvent(plan.devices.get('gw-1')!, event, nonce); // true when its outcome changed
 */
import type { DeploymentRef, DeviceEvent, Status, UpdatePhase } from '../../contract/index.js';
import { cleanText } from './sanitize.js';

export type RollbackScope = { device: string } | { group: string };
export type Outcome = 'pending' | 'confirmed' | 'refused' | 'failed' | 'skipped';

export interface DeviceTrack {
  device: string;
  /** What it booted when the command was sent (a version, or the commit's first 12 digits). */
  from: string | null;
  /** What "back" is: a version (with --to), the rollback deployment, or null when its status named none. */
  target: { version: string | null; commit: string | null } | null;
  outcome: Outcome;
  /** Why it was refused, failed or skipped; how it was confirmed. */
  reason: string | null;
  /** It took the command (command-received, or a status whose updateId is the command's nonce). */
  accepted: boolean;
  phase: UpdatePhase | null;
  booted: string | null;
  /** When its outcome arrived. */
  at: string | null;
  /** The commit booted when the command was sent (to tell a move when no target is known). */
  fromCommit: string | null;
  bootedCommit: string | null;
  bootedVersion: string | null;
}

export interface RollbackPlan {
  scope: RollbackScope;
  devices: Map<string, DeviceTrack>;
}

export interface PlanInput {
  /** The readable retained statuses, one per device. */
  statuses: readonly Status[];
  scope: RollbackScope;
  to: string | null;
  onlyFrom: string | null;
}

export function planRollback(i: PlanInput): RollbackPlan {
  const inScope = i.statuses.filter((s) => ('device' in i.scope ? s.device === i.scope.device : s.group === i.scope.group));
  const devices = new Map<string, DeviceTrack>();
  for (const s of inScope) {
    const booted = s.deployments.booted;
    const rb = s.deployments.rollback;
    const target = i.to !== null ? { version: i.to, commit: null } : rb === null ? null : { version: rb.version, commit: rb.commit };
    const track: DeviceTrack = {
      device: s.device,
      from: shown(booted),
      target,
      outcome: 'pending',
      reason: null,
      accepted: false,
      phase: s.phase,
      booted: shown(booted),
      at: null,
      fromCommit: booted?.commit ?? null,
      bootedCommit: booted?.commit ?? null,
      bootedVersion: booted?.version ?? null,
    };
    if (i.onlyFrom !== null && booted?.version !== i.onlyFrom) settle(track, 'skipped', `runs ${track.from ?? 'nothing known'}, not ${i.onlyFrom}`);
    devices.set(s.device, track);
  }
  return { scope: i.scope, devices };
}

/** A newer status of a device in the plan; true when its outcome changed. */
export function trackStatus(t: DeviceTrack, s: Status, nonce: string): boolean {
  const booted = s.deployments.booted;
  t.phase = s.phase;
  t.booted = shown(booted);
  t.bootedCommit = booted?.commit ?? null;
  t.bootedVersion = booted?.version ?? null;
  if (t.outcome !== 'pending') return false;
  if (s.updateId === nonce) t.accepted = true;
  if (!t.accepted) return false;
  if (s.updateId === nonce && (s.phase === 'failed' || s.phase === 'rolled-back')) {
    // Until its update is reported, a status may still carry the previous update's error: only an error that
    // names this command's update settles it; else its command-failed event brings the device's reason.
    const e = s.lastError;
    if (e === null || !namesUpdate(e.message, nonce)) return false;
    return settle(t, 'failed', cleanText(e.message, { maxChars: 300 }));
  }
  return confirmIfBack(t);
}

/** One of the device's events; true when its outcome changed. Events of other commands are ignored. */
export function trackEvent(t: DeviceTrack, e: DeviceEvent, nonce: string): boolean {
  const reason = cleanText(e.reason ?? e.type, { maxChars: 300 });
  // A refusal names the nonce its command claims (trusted or not); one that names none (an unreadable command,
  // a full queue) is no answer to this command, whatever it arrives after.
  if (e.updateId !== nonce) return false;
  if (e.type === 'command-received') {
    t.accepted = true;
    if (t.outcome === 'skipped') t.outcome = 'pending';
    return confirmIfBack(t);
  }
  if (t.outcome !== 'pending') return false;
  switch (e.type) {
    case 'command-refused':
      return settle(t, reason.startsWith('not-on-version') ? 'skipped' : 'refused', reason);
    case 'command-failed':
    case 'failed':
    case 'rolled-back':
    case 'refused':
      return settle(t, 'failed', reason);
    default:
      return false;
  }
}

/** The counts of a plan's outcomes. */
export function countOutcomes(plan: RollbackPlan): Record<Outcome, number> & { devices: number } {
  const c = { devices: plan.devices.size, pending: 0, confirmed: 0, refused: 0, failed: 0, skipped: 0 };
  for (const t of plan.devices.values()) c[t.outcome]++;
  return c;
}

/** Whether every device has its outcome. */
export function allSettled(plan: RollbackPlan): boolean {
  return [...plan.devices.values()].every((t) => t.outcome !== 'pending');
}

function confirmIfBack(t: DeviceTrack): boolean {
  if (!t.accepted || t.outcome !== 'pending' || (t.phase !== 'idle' && t.phase !== 'committed')) return false;
  const back =
    t.target === null
      ? t.bootedCommit !== null && t.bootedCommit !== t.fromCommit
      : t.target.commit !== null
        ? t.bootedCommit === t.target.commit
        : t.bootedVersion === t.target.version;
  return back && settle(t, 'confirmed', `back on ${t.booted ?? '?'}, ${t.phase}`);
}

/** Whether an agent's last error (`update <id> (<version>): <reason>`) is about the update `id`. */
function namesUpdate(message: string, id: string): boolean {
  return message.startsWith(`update ${id} `) || message.startsWith(`update ${id}:`);
}

function settle(t: DeviceTrack, outcome: Outcome, reason: string): boolean {
  t.outcome = outcome;
  t.reason = reason;
  t.at = new Date().toISOString();
  return true;
}

function shown(d: DeploymentRef | null): string | null {
  return d === null ? null : (d.version ?? d.commit.slice(0, 12));
}
