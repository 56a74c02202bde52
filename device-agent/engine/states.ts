/**
 * The agent's states and the events its handlers return (docs/agent.md, "The state machine"). Both are closed
 * sets of strings so the table in transitions.ts can be checked for completeness and the persisted record can
 * be validated against them.
 *
 * @example
 * import { STATES, type State } from './states.js';
 * const s: State = 'downloading';
 */

export const STATES = [
  /** Resting: no update in progress. */
  'idle',
  /** Fetching the release and running preflight (verification, board, arch, floor, disk space). */
  'checking',
  /** Fetching the commit into the sysroot's repository (resumable). */
  'downloading',
  /** Resting: downloaded, waiting to be applied (download-only policy or outside the maintenance window). */
  'downloaded',
  /** The bootloader's armForUpgrade: count boots of the deployment about to be written. */
  'arming',
  /** Deploying the commit: staged on a booted system, plain in a test sysroot; a rollback's existing deployment made the default. */
  'deploying',
  /** Asking for the reboot (or not, with the manual reboot policy). */
  'rebooting',
  /** Resting: a reboot was asked for or is left to a person; the next start verifies. */
  'awaitingReboot',
  /** After a boot: which deployment booted, and the health checks when it is the new one. */
  'verifying',
  /** The bootloader's markGood, then prune (keep booted and one rollback). */
  'committing',
  /** Back to the previous deployment: the bootloader's rollback, OSTree's default, the counter cleared. */
  'rollingBack',
  /** Recording the result of the update and telling whoever listens. */
  'reporting',
] as const;

export type State = (typeof STATES)[number];

export const EVENTS = [
  /** From outside: look for an update (a poll, a command, `ota-agent upgrade`). */
  'check',
  /** From outside: apply an update that was downloaded earlier. */
  'apply',
  'updateAvailable',
  'upToDate',
  /** Preflight refused the release; nothing was changed. */
  'refused',
  'downloaded',
  /** Downloaded; the policy says apply later. */
  'applyLater',
  'deployed',
  'armed',
  'rebootRequested',
  /** Manual reboot policy: a person reboots. */
  'rebootDeferred',
  /** On start: the agent was in a state whose work continues after a boot. */
  'booted',
  /** The old deployment still runs and nothing fell back: the reboot has not happened yet. */
  'notRebooted',
  'healthy',
  /** The new deployment booted and a required check failed or the deadline passed. */
  'unhealthy',
  /** The previous deployment booted with the bootloader's rollback flag set. */
  'fellBack',
  'committed',
  /** The rollback needs a reboot into the previous deployment. */
  'rollbackRebootNeeded',
  'rolledBack',
  'reported',
  /** A handler's work failed. */
  'failed',
  /** On start: the agent was killed in a state that is not safe to run again. */
  'interrupted',
  /** On start, in idle: the bootloader is armed or fell back while no update runs; the booted deployment is made the default again. */
  'repair',
] as const;

export type AgentEvent = (typeof EVENTS)[number];

/** States the machine stops in: it runs again on an outside event (or, for awaitingReboot, on the next start). */
export const RESTING_STATES: readonly State[] = ['idle', 'downloaded', 'awaitingReboot'];

export function isResting(state: State): boolean {
  return RESTING_STATES.includes(state);
}
