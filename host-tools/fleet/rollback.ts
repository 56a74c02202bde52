/**
 * `ota fleet rollback`'s work (docs/fleet.md, "ota fleet rollback"): read the retained statuses of
 * the devices in scope, plan what each must come back to, sign one rollback command for the device
 * or the group and publish it once, then follow the devices' statuses and events until each
 * confirmed (back, healthy), refused, failed or was skipped, or the time is up. The subscription
 * is made before the publish: events are not retained, so one sent before it would be lost.
 *
 * @example
 * const r = await fleetRollback({ broker, prefix: 'ota', key: 'keys/', scope: { group: 'lab' }, to: '1.1', timeoutSeconds: 600 });
 * r.counts.confirmed; // 12
 */
import { OtaError } from '../../common/errors.js';
import { loadSigningKey, type CommandAction, type SigningKey, type Status } from '../../contract/index.js';
import type { BrokerOptions } from '../mqtt/client.js';
import { publishFleetCommand, signFleetCommand } from './command-publish.js';
import { readEventMessage } from './events.js';
import { openFleetFeed, type BurstEnd, type FleetFeed } from './feed.js';
import { applyMessage, deviceTopic, newFleetState, type FleetState } from './fleet-state.js';
import { allSettled, countOutcomes, planRollback, trackEvent, trackStatus, type DeviceTrack, type Outcome, type RollbackPlan, type RollbackScope } from './rollback-track.js';

export interface FleetRollbackOptions {
  broker: BrokerOptions;
  prefix: string;
  /** The release key (a key DIR of `ota keys generate` or its release.jwk), or the key itself. */
  key: string | SigningKey;
  scope: RollbackScope;
  /** Roll back to this published version; absent: each device's rollback deployment. */
  to?: string;
  /** Allow going below the anti-rollback floor (signed into the command; needs `to`). */
  belowFloor?: boolean;
  /** Only devices booted on this version act (docs/fleet.md, "Group commands"). */
  onlyFrom?: string;
  reason?: string | null;
  /** How long to wait for the confirmations; 0: publish and return without waiting. */
  timeoutSeconds: number;
  /** Stops the wait early (Ctrl-C): the result then has the devices still pending. */
  signal?: AbortSignal;
  /** Each device whose outcome arrived, as it arrives, with the counts so far. */
  onOutcome?: (t: DeviceTrack, counts: Record<Outcome, number> & { devices: number }) => void;
  /** Once the command is published: how many devices are expected. */
  onPublished?: (p: { topic: string; nonce: string; devices: number; pending: number }) => void;
}

export interface FleetRollbackResult {
  scope: RollbackScope;
  action: CommandAction;
  nonce: string;
  topic: string;
  expiresAt: string;
  burstEnd: BurstEnd;
  devices: DeviceTrack[];
  counts: Record<Outcome, number> & { devices: number };
  /** The wait ended before every device had its outcome (timeout or signal). */
  timedOut: boolean;
  seconds: number;
}

/**
 * The group rollback the rollout's `abort --rollback` sends (docs/fleet.md, "Group commands"):
 * one signed command on the group's commands topic, `onlyFrom` the aborted release's version.
 *
 * @example
 * await publishGroupRollback({ broker, prefix: 'ota', key: 'keys/', group: 'lab', onlyFrom: '1.3', timeoutSeconds: 0 });
 */
export function publishGroupRollback(o: Omit<FleetRollbackOptions, 'scope'> & { group: string }): Promise<FleetRollbackResult> {
  const { group, ...rest } = o;
  return fleetRollback({ ...rest, scope: { group } });
}

export async function fleetRollback(o: FleetRollbackOptions): Promise<FleetRollbackResult> {
  const started = Date.now();
  const action = rollbackAction(o);
  const key = typeof o.key === 'string' ? await loadSigningKey(o.key) : o.key;
  const state = newFleetState(o.prefix);
  const live: { plan: RollbackPlan | null; nonce: string } = { plan: null, nonce: '' };
  const changed = new Set<string>();
  let wake: () => void = () => {};
  const feed = await openFleetFeed({
    broker: o.broker,
    prefix: o.prefix,
    filters: filters(o.scope),
    onMessage: (topic, payload) => {
      const id = onMessage({ state, live, topic, payload });
      if (id !== null) {
        changed.add(id);
        wake();
      }
    },
  });
  try {
    const burstEnd = await feed.burstEnd;
    const plan = planFor(o, state, action);
    const cmd = await signFleetCommand({ key, target: o.scope, action, reason: o.reason ?? null });
    live.nonce = cmd.nonce;
    live.plan = plan;
    const topic = await publishFleetCommand(feed.session, o.prefix, cmd);
    o.onPublished?.({ topic, nonce: cmd.nonce, devices: plan.devices.size, pending: countOutcomes(plan).pending });
    for (const t of plan.devices.values()) if (t.outcome !== 'pending') o.onOutcome?.(t, countOutcomes(plan));
    const timedOut = await waitForOutcomes({ feed, plan, o, changed, setWake: (w) => (wake = w) });
    const devices = [...plan.devices.values()].sort((a, b) => (a.device < b.device ? -1 : 1));
    return { scope: o.scope, action, nonce: cmd.nonce, topic, expiresAt: cmd.expiresAt.toISOString(), burstEnd, devices, counts: countOutcomes(plan), timedOut, seconds: (Date.now() - started) / 1000 };
  } finally {
    await feed.close();
  }
}

function rollbackAction(o: FleetRollbackOptions): CommandAction {
  if (o.belowFloor === true && o.to === undefined) {
    throw new OtaError('ERR_OTA_USAGE', '--below-floor needs --to VERSION', { hint: 'going below the floor is allowed only to a named version, which the signed command carries' });
  }
  return { type: 'rollback', ...(o.to === undefined ? {} : { version: o.to }), ...(o.belowFloor === true ? { belowFloor: true } : {}), ...(o.onlyFrom === undefined ? {} : { onlyFrom: o.onlyFrom }) };
}

function filters(scope: RollbackScope): string[] {
  const who = 'device' in scope ? scope.device : '+';
  return ['status', 'online', 'events'].map((leaf) => `devices/${who}/${leaf}`);
}

/** Applies one message; returns the device whose track changed, or null. */
function onMessage(m: { state: FleetState; live: { plan: RollbackPlan | null; nonce: string }; topic: string; payload: Buffer }): string | null {
  const t = deviceTopic(m.state.prefix, m.topic);
  if (t === null) return null;
  const plan = m.live.plan;
  if (t.leaf === 'events') {
    const track = plan?.devices.get(t.id);
    if (track === undefined) return null;
    const e = readEventMessage(t.id, m.payload);
    return e.ok && trackEvent(track, e.event, m.live.nonce) ? t.id : null;
  }
  const id = applyMessage(m.state, m.topic, m.payload);
  if (id === null || plan === null || t.leaf !== 'status') return null;
  const track = plan.devices.get(id);
  const status = m.state.devices.get(id)?.status;
  if (track === undefined || status === null || status === undefined) return null;
  return trackStatus(track, status, m.live.nonce) ? id : null;
}

/** The plan from what the devices retained; a command that could reach nobody is refused before anything is sent. */
function planFor(o: FleetRollbackOptions, state: FleetState, action: CommandAction): RollbackPlan {
  const statuses = [...state.devices.values()].map((r) => r.status).filter((s): s is Status => s !== null);
  const plan = planRollback({ statuses, scope: o.scope, to: o.to ?? null, onlyFrom: o.onlyFrom ?? null });
  const where = 'device' in o.scope ? `device ${o.scope.device}` : `group ${o.scope.group}`;
  if (plan.devices.size === 0) {
    throw new OtaError('ERR_OTA_NOT_FOUND', `no retained status for ${where} on the broker: nothing was sent`, {
      hint: 'check the id, the group and --prefix with `ota fleet status`; a device that never connected has no status',
    });
  }
  if ('device' in o.scope && action.type === 'rollback' && action.version === undefined && [...plan.devices.values()][0]!.target === null) {
    throw new OtaError('ERR_OTA_USAGE', `device ${o.scope.device} has no rollback deployment in its status: nothing was sent`, { hint: 'give --to VERSION to go to a published version' });
  }
  return plan;
}

interface Wait {
  feed: FleetFeed;
  plan: RollbackPlan;
  o: FleetRollbackOptions;
  changed: Set<string>;
  setWake: (w: () => void) => void;
}

/** Reports each outcome as it arrives; resolves true when the wait ended with devices still pending. */
async function waitForOutcomes(w: Wait): Promise<boolean> {
  if (w.o.timeoutSeconds === 0) return !allSettled(w.plan);
  const deadline = Date.now() + w.o.timeoutSeconds * 1000;
  // One count per wake, not per device: a group of 10,000 confirms in a few thousand wakes.
  const report = () => {
    const counts = countOutcomes(w.plan);
    for (const id of w.changed) {
      const t = w.plan.devices.get(id);
      if (t !== undefined && t.outcome !== 'pending') w.o.onOutcome?.(t, counts);
    }
    w.changed.clear();
    return counts.pending;
  };
  while (report() > 0) {
    const left = deadline - Date.now();
    if (left <= 0 || w.o.signal?.aborted === true) return true;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        w.o.signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, left);
      w.setWake(done);
      w.o.signal?.addEventListener('abort', done, { once: true });
    });
  }
  return false;
}
