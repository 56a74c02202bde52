/**
 * What the daemon does next (docs/agent.md, "Local CLI"), as data: a pure function of the record it read, the
 * configuration, the time, when it last polled and a jitter the shell draws, so every branch is unit-tested
 * without a clock or a sleep (docs/conventions.md, "Plan as data"). The loop (daemon.ts) only carries it out.
 *
 * @example
 * nextDaemonAction({ record, config, now, lastPollAt: null, jitter: 0 }); // { kind: 'check', id: 'poll-1767225600' }
 */
import type { AgentConfig } from '../config/schema.js';
import { inMaintenanceWindow } from '../config/window.js';
import type { AgentRecord } from '../engine/record.js';

/** How often a downloaded update is looked at again for the maintenance window, and a busy record re-read. */
export const RECHECK_MS = 60_000;
/** Each poll interval is stretched or shrunk by up to this fraction, so a fleet does not poll in step. */
export const POLL_JITTER = 0.1;

export type DaemonAction =
  | { kind: 'check'; id: string }
  | { kind: 'apply' }
  /** Wait this long, then decide again; null: until a signal (nothing will change on its own). */
  | { kind: 'wait'; ms: number | null; why: string };

export interface DaemonInput {
  record: AgentRecord;
  config: Pick<AgentConfig, 'pollIntervalSeconds' | 'policy'>;
  now: Date;
  /** When this daemon last started a poll; null before its first. */
  lastPollAt: Date | null;
  /** In [-1, 1]: the fraction of POLL_JITTER this wait gets (the shell draws it at random). */
  jitter: number;
}

export function nextDaemonAction(input: DaemonInput): DaemonAction {
  const { record, config, now } = input;
  switch (record.state) {
    case 'idle':
      return idleAction(input);
    case 'downloaded': {
      if (config.policy.downloadOnly || record.update?.downloadOnly === true) {
        return { kind: 'wait', ms: null, why: 'downloaded, download only: `ota-agent upgrade` applies it' };
      }
      if (!inMaintenanceWindow(config.policy.maintenanceWindow, now)) return { kind: 'wait', ms: RECHECK_MS, why: 'downloaded, outside the maintenance window' };
      return { kind: 'apply' };
    }
    case 'awaitingReboot':
      return { kind: 'wait', ms: null, why: 'awaiting the reboot' };
    default:
      // Another process (a verb) is driving the machine right now: look again later.
      return { kind: 'wait', ms: RECHECK_MS, why: `an update is in ${record.state}` };
  }
}

function idleAction({ config, now, lastPollAt, jitter }: DaemonInput): DaemonAction {
  if (config.pollIntervalSeconds === 0) return { kind: 'wait', ms: null, why: 'polling is off (pollIntervalSeconds: 0)' };
  const id = `poll-${Math.floor(now.getTime() / 1000)}`;
  if (lastPollAt === null) return { kind: 'check', id };
  const interval = config.pollIntervalSeconds * 1000 * (1 + POLL_JITTER * Math.max(-1, Math.min(1, jitter)));
  const wait = lastPollAt.getTime() + Math.round(interval) - now.getTime();
  return wait <= 0 ? { kind: 'check', id } : { kind: 'wait', ms: wait, why: 'until the next poll' };
}
