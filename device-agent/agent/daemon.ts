/**
 * The daemon's loop (docs/agent.md, "Local CLI"), a thin shell over nextDaemonAction: read the record, decide,
 * do it (a poll's check, an apply) or wait, and again. It holds the agent's lock only while the machine runs,
 * so a verb works while the daemon waits, and it reads the record again at least once a minute to see what a
 * verb changed. A failed check is logged and the loop goes on: the next poll tries again.
 *
 * @example
 * const stopper = new Stopper();
 * process.once('SIGTERM', () => stopper.stop());
 * await runDaemon({ agent, config, once: false, stopper, log });
 */
import { setTimeout as delay } from 'node:timers/promises';
import { OtaError } from '../../common/errors.js';
import type { AgentConfig } from '../config/schema.js';
import type { AgentRecord } from '../engine/record.js';
import { nextDaemonAction, RECHECK_MS, type DaemonAction } from './daemon-plan.js';
import type { Level } from './journal.js';
import type { Agent } from './open.js';

/** A stop request (SIGTERM, SIGINT): it ends a wait at once; the machine checks it before each state. */
export class Stopper {
  private readonly controller = new AbortController();

  get stopped(): boolean {
    return this.controller.signal.aborted;
  }

  stop(): void {
    this.controller.abort();
  }

  /** Waits `ms`, or less when a stop comes first. */
  async sleep(ms: number): Promise<void> {
    await delay(ms, undefined, { signal: this.controller.signal }).catch(() => {});
  }
}

export interface DaemonOptions {
  agent: Pick<Agent, 'machine' | 'store'>;
  config: Pick<AgentConfig, 'pollIntervalSeconds' | 'policy'>;
  /** Resume, one decision (a check when idle), and return: for devices that run the agent from a timer. */
  once: boolean;
  stopper: Stopper;
  log: (level: Level, message: string) => void;
  now?: () => Date;
  /** In [0, 1): draws each poll's jitter. */
  random?: () => number;
  /**
   * Carries out a poll's check; default the machine's own. `ota-agent daemon --once` passes the worker's,
   * which reads the group's rollout first (docs/agent.md, "Rollouts"), so a device run from a timer keeps to it too.
   */
  check?: (action: Extract<DaemonAction, { kind: 'check' }>) => Promise<void>;
}

/**
 * Runs until stopped (or once). Throws only when the record cannot be read: a daemon that cannot know where
 * an update stands must not start another.
 */
export async function runDaemon(o: DaemonOptions): Promise<void> {
  const now = o.now ?? (() => new Date());
  const random = o.random ?? Math.random;
  await o.agent.store.load();
  // Resume first: continue or roll back what the record names. Another process holding the lock (a verb)
  // is waited out, a minute at a time.
  while (!(await attempt(o.log, 'resuming', () => o.agent.machine.resume()))) {
    if (o.once || o.stopper.stopped) return;
    await o.stopper.sleep(RECHECK_MS);
  }
  let lastPollAt: Date | null = null;
  let jitter = 2 * random() - 1;
  while (!o.stopper.stopped) {
    // Read without the lock: the record is replaced atomically, so this sees one whole save or the next.
    const record = await o.agent.store.load();
    const action = nextDaemonAction({ record, config: o.config, now: now(), lastPollAt, jitter });
    if (action.kind === 'check') {
      lastPollAt = now();
      jitter = 2 * random() - 1;
    }
    await carryOut(o, action);
    if (o.once) return;
  }
}

async function carryOut(o: DaemonOptions, action: DaemonAction): Promise<void> {
  if (action.kind === 'check' && o.check !== undefined) {
    await o.check(action);
    return;
  }
  if (action.kind !== 'wait') {
    await driveDecision(o.agent.machine, o.config.policy.downloadOnly, action, o.log);
    return;
  }
  if (o.once) return;
  // At most a minute: a verb may have changed the record meanwhile.
  await o.stopper.sleep(Math.min(action.ms ?? RECHECK_MS, RECHECK_MS));
}

/**
 * Carries out a check or an apply of nextDaemonAction, as this loop and the relay's tick worker both do; a
 * failure is logged (the next decision tries again).
 */
export async function driveDecision(machine: Agent['machine'], downloadOnly: boolean, action: Exclude<DaemonAction, { kind: 'wait' }>, log: DaemonOptions['log']): Promise<void> {
  if (action.kind === 'check') await attempt(log, `poll ${action.id}`, () => machine.check({ id: action.id, downloadOnly }));
  else await attempt(log, 'applying the downloaded update', () => machine.apply());
}

/** Runs one drive of the machine; a failure is logged (the loop goes on) and reported as false. */
export async function attempt(log: DaemonOptions['log'], what: string, work: () => Promise<AgentRecord>): Promise<boolean> {
  try {
    const r = await work();
    if (r.update !== null || r.state !== 'idle') log('info', `${what}: resting in ${r.state}`);
    return true;
  } catch (e) {
    log(e instanceof OtaError && e.code === 'ERR_OTA_STATE' ? 'warning' : 'error', `${what}: ${e instanceof Error ? e.message : String(e)}`);
    return false;
  }
}
