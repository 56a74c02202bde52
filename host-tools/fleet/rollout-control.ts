/**
 * `ota fleet pause|resume|abort` as functions (docs/fleet.md, "Pause, resume, abort"), which the CLI and the
 * dashboard call: each edits the group's rollout state and publishes the signed document again, under the state's
 * lock (`withStateLock`); a controller running meanwhile reads the state file on its next round and follows. The transition itself is pure
 * (`controlTransition`).
 *
 * @example
 * await pauseRollout({ group: 'canary', keyPath: 'keys/', broker: { url: 'mqtt://127.0.0.1:1883' }, reason: 'looking at gw-7' });
 */
import { OtaError } from '../../common/errors.js';
import { loadSigningKey } from '../../contract/index.js';
import { connectBroker, type BrokerOptions } from '../mqtt/client.js';
import { publishGroupRollback, type FleetRollbackOptions, type FleetRollbackResult } from './rollback.js';
import { withStateLock } from './rollout-lock.js';
import { publishRollout } from './rollout-publish.js';
import { defaultStatePath, loadRolloutState, type RolloutControl } from './rollout-state.js';

export type ControlVerb = 'pause' | 'resume' | 'abort';

/** The state after `verb`; an OtaError (usage) when the rollout is not in a state that allows it. */
export function controlTransition(state: RolloutControl, verb: ControlVerb, reason: string | null): RolloutControl {
  const refuse = (hint: string) => new OtaError('ERR_OTA_USAGE', `cannot ${verb} rollout ${state.id} of ${state.release.version} to ${state.group}: it is ${state.phase}`, { hint });
  if (verb === 'pause') {
    if (state.phase !== 'running') throw refuse('only a running rollout pauses');
    return { ...state, phase: 'paused', reason };
  }
  if (verb === 'resume') {
    if (state.phase !== 'paused' && state.phase !== 'halted') throw refuse('only a paused or halted rollout resumes');
    // After a halt the operator lets the failed devices go: they no longer count, nor hold the wave.
    const excused = state.phase === 'halted' ? [...new Set([...state.excused, ...state.failedDevices])] : state.excused;
    return { ...state, phase: 'running', reason, excused, failedDevices: [], wave: { ...state.wave, soakStartedAt: null } };
  }
  if (state.phase === 'aborted' || state.phase === 'completed') throw refuse('start a new rollout instead');
  return { ...state, phase: 'aborted', reason };
}

export interface ControlOptions {
  group: string;
  /** The signing key's directory (`ota keys generate`). */
  keyPath: string;
  broker: BrokerOptions;
  /** Default `defaultStatePath(group)`. */
  statePath?: string;
  reason?: string | null;
  now?: Date;
}

export interface ControlResult {
  state: RolloutControl;
  statePath: string;
}

export const pauseRollout = (o: ControlOptions): Promise<ControlResult> => control(o, 'pause');
export const resumeRollout = (o: ControlOptions): Promise<ControlResult> => control(o, 'resume');

export interface AbortOptions extends ControlOptions {
  /**
   * Also return the devices that took the release: one signed rollback command on the group's commands
   * topic with `onlyFrom` the release's version (docs/fleet.md, "Group commands"), then each device's
   * confirmation until `timeoutSeconds` (0: publish and return).
   */
  rollback?: Pick<FleetRollbackOptions, 'timeoutSeconds' | 'signal' | 'onOutcome' | 'onPublished'>;
}

/**
 * Aborts: devices that have not started never will; with `rollback`, those on the release go back to
 * their rollback deployment. The abort is published first, so nothing starts while they go back.
 */
export async function abortRollout(o: AbortOptions): Promise<ControlResult & { rollback: FleetRollbackResult | null }> {
  const r = await control(o, 'abort');
  if (o.rollback === undefined) return { ...r, rollback: null };
  const s = r.state;
  const reason = o.reason ?? `rollout ${s.id} of ${s.release.version} aborted`;
  const rollback = await publishGroupRollback({ broker: o.broker, prefix: s.prefix, key: o.keyPath, group: s.group, onlyFrom: s.release.version, reason, ...o.rollback });
  return { ...r, rollback };
}

async function control(o: ControlOptions, verb: ControlVerb): Promise<ControlResult> {
  const statePath = o.statePath ?? defaultStatePath(o.group);
  const state = await loadRolloutState(statePath);
  if (state === null) throw new OtaError('ERR_OTA_USAGE', `no rollout of group ${o.group}: ${statePath} does not exist`, { hint: 'give the --state the rollout was started with' });
  if (state.group !== o.group) throw new OtaError('ERR_OTA_USAGE', `${statePath} holds a rollout of group ${state.group}, not ${o.group}`);
  // Checked before the broker, so bad input contacts nothing; checked again under the lock, on what is there then.
  controlTransition(state, verb, o.reason ?? null);
  const key = await loadSigningKey(o.keyPath);
  const session = await connectBroker(o.broker);
  try {
    // Under the lock a running controller takes for each round: neither overwrites the other's change.
    const published = await withStateLock(statePath, async () => {
      const current = (await loadRolloutState(statePath)) ?? state;
      const next = controlTransition(current, verb, o.reason ?? null);
      return publishRollout({ session, state: next, key, statePath, now: o.now ?? new Date() });
    });
    return { state: published, statePath };
  } finally {
    await session.close();
  }
}
