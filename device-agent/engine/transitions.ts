/**
 * THE transition table (docs/agent.md, "The state machine"): one row per edge, as Mender's client keeps
 * its own. Handlers return an event and never name a state; only this table says what follows, so every path
 * an update can take is readable here, and a missing edge is an error, not a silent stop.
 *
 * @example
 * nextState('downloading', 'downloaded'); // 'arming'
 */
import { OtaError } from '../../common/errors.js';
import type { AgentEvent, State } from './states.js';

export type Transition = readonly [from: State, event: AgentEvent, to: State];

export const TRANSITIONS: readonly Transition[] = [
  ['idle', 'check', 'checking'],
  // Checking changes nothing on the device, so a refusal or a failure is only reported.
  ['checking', 'updateAvailable', 'downloading'],
  ['checking', 'upToDate', 'idle'],
  ['checking', 'refused', 'reporting'],
  ['checking', 'failed', 'reporting'],
  // Downloading only adds objects to the repository; nothing points at them yet.
  ['downloading', 'downloaded', 'arming'],
  ['downloading', 'applyLater', 'downloaded'],
  ['downloading', 'failed', 'reporting'],
  ['downloaded', 'apply', 'arming'],
  // Armed before the deploy: a deployment may boot the moment it is written (a sysroot that is not booted, a
  // GRUB board), and it must never boot with nothing counting. From arming on, anything that goes wrong goes
  // back to the previous deployment.
  ['arming', 'armed', 'deploying'],
  ['arming', 'failed', 'rollingBack'],
  ['deploying', 'deployed', 'rebooting'],
  ['deploying', 'failed', 'rollingBack'],
  ['deploying', 'interrupted', 'rollingBack'],
  ['rebooting', 'rebootRequested', 'awaitingReboot'],
  ['rebooting', 'rebootDeferred', 'awaitingReboot'],
  ['rebooting', 'booted', 'verifying'],
  ['rebooting', 'failed', 'rollingBack'],
  ['awaitingReboot', 'booted', 'verifying'],
  ['verifying', 'healthy', 'committing'],
  ['verifying', 'unhealthy', 'rollingBack'],
  ['verifying', 'fellBack', 'rollingBack'],
  ['verifying', 'notRebooted', 'rebooting'],
  ['verifying', 'failed', 'rollingBack'],
  // A deployment the agent cannot mark good would be rolled back by the bootloader anyway, boots later.
  ['committing', 'committed', 'reporting'],
  ['committing', 'failed', 'rollingBack'],
  ['rollingBack', 'rolledBack', 'reporting'],
  ['rollingBack', 'rollbackRebootNeeded', 'rebooting'],
  // A rollback that fails is reported; the bootloader's counter still falls back on its own.
  ['rollingBack', 'failed', 'reporting'],
  ['reporting', 'reported', 'idle'],
  ['reporting', 'failed', 'idle'],
  // On start, the bootloader armed or fallen back while nothing runs (the loop breaker gave up): the rolling-back
  // path makes the booted deployment the default again and clears the flags (repair.ts).
  ['idle', 'repair', 'rollingBack'],
];

/**
 * What the agent does on start with the state it finds in the record:
 * - `rest`: nothing (a resting state).
 * - `rerun`: run the state's handler again. Only for states whose work is idempotent: checking and verifying
 *   only read; downloading resumes its partial files; arming writes fixed values (nothing is deployed yet);
 *   committing, rollingBack and reporting look at the sysroot and the bootloader before they change anything.
 * - `booted`: the work of the state continues after a boot (rebooting, awaitingReboot); verifying finds
 *   out whether the boot happened and returns notRebooted when it did not.
 * - `interrupted`: killed mid-way through work that is not safe to repeat (deploying): roll back. A cut after
 *   arming boots the old default with the counter armed; rollingBack on the previous deployment removes any
 *   partial deployment and clears the flags.
 */
export type ResumeAction = 'rest' | 'rerun' | 'booted' | 'interrupted';

export const RESUME: Readonly<Record<State, ResumeAction>> = {
  idle: 'rest',
  checking: 'rerun',
  downloading: 'rerun',
  downloaded: 'rest',
  deploying: 'interrupted',
  arming: 'rerun',
  rebooting: 'booted',
  awaitingReboot: 'booted',
  verifying: 'rerun',
  committing: 'rerun',
  rollingBack: 'rerun',
  reporting: 'rerun',
};

const INDEX = new Map<string, State>(TRANSITIONS.map(([from, event, to]) => [`${from} ${event}`, to]));

/** The state that follows `from` on `event`; an OtaError when the table has no such edge. */
export function nextState(from: State, event: AgentEvent): State {
  const to = INDEX.get(`${from} ${event}`);
  if (to === undefined) {
    const allowed = TRANSITIONS.filter(([f]) => f === from).map(([, e]) => e);
    throw new OtaError('ERR_OTA_STATE', `no transition from state ${from} on event ${event}`, {
      hint: `in ${from} the agent accepts: ${allowed.join(', ') || 'nothing'}`,
    });
  }
  return to;
}

/** The events `from` accepts, in table order (for messages and for the CLI's refusals). */
export function eventsFrom(from: State): AgentEvent[] {
  return TRANSITIONS.filter(([f]) => f === from).map(([, e]) => e);
}
