/**
 * The machine's loop (docs/agent.md, "The state machine"): the record on disk names the state whose handler
 * runs next before that handler touches anything; the handler returns an event; the table names the next
 * state; the transition is logged and saved; repeat until a resting state. On start the agent reads the record
 * and continues or rolls back as RESUME says. The store's loop breaker may change the state it saves, so the
 * loop always continues from what was written, never from what it meant to write.
 *
 * @example
 * const machine = new AgentMachine({ store: new StateStore({ dir: '/var/lib/ota' }), deps });
 * await machine.resume();                                  // on start
 * await machine.check({ id: 'poll-1767225600' });          // a poll, a command, `ota-agent upgrade`
 */
import { OtaError } from '../../common/errors.js';
import type { AgentDeps } from './deps.js';
import { HANDLERS, type DeviceView, type HandlerResult } from './handlers.js';
import { applyTransition, beginUpdate, markResumed, type AgentRecord, type BeginOptions, type RollbackReason, type UpdateRecord } from './record.js';
import { beginRepair, repairPlan, type RepairPlan } from './repair.js';
import { isResting, type AgentEvent, type State } from './states.js';
import type { StateStore } from './store.js';
import { RESUME, nextState } from './transitions.js';

export interface MachineOptions {
  store: Pick<StateStore, 'load' | 'save' | 'removeLeftovers' | 'lock'>;
  deps: AgentDeps;
  /** Called after every save, with what was saved: the crash tests' kill hook. */
  onSaved?: (record: AgentRecord) => void | Promise<void>;
  /**
   * Asked before each handler: true stops the run there, leaving the saved record naming that state, but only in
   * a state whose RESUME is `rerun` or `booted`, so the next start continues the update instead of rolling it
   * back (the daemon's SIGTERM; docs/agent.md, "Local CLI").
   */
  shouldStop?: () => boolean;
}

/** Why a rollback happens when the handler did not say: a failure, or a restart in a state not safe to repeat. */
const DEFAULT_REASON: Partial<Record<AgentEvent, RollbackReason>> = { failed: 'failed', interrupted: 'interrupted' };

export class AgentMachine {
  constructor(private readonly options: MachineOptions) {}

  /** On start: continue the update the record names, or roll it back; returns the record it rests in. */
  async resume(): Promise<AgentRecord> {
    return this.locked(() => this.resumeLocked());
  }

  private async resumeLocked(): Promise<AgentRecord> {
    const { store, deps } = this.options;
    await store.removeLeftovers();
    const record = await store.load();
    const action = RESUME[record.state];
    if (action === 'rest') return record.state === 'idle' ? this.repairIfNeeded(record) : record;
    deps.emit({ phase: 'agent', updateId: record.update?.id ?? null, state: record.state, event: 'resume', message: `resuming in ${record.state}: ${action}` });
    if (action === 'rerun') return this.run(await this.save(markResumed(record, deps.clock.now())));
    return this.run(await this.save(this.transition(markResumed(record, deps.clock.now()), { event: action })));
  }

  /**
   * In idle on start: when the bootloader is armed or fell back while no update runs, the repair (repair.ts)
   * runs the rolling-back path on the booted deployment. Not knowing is a warning, never a reason not to start.
   */
  private async repairIfNeeded(record: AgentRecord): Promise<AgentRecord> {
    const { deps } = this.options;
    let plan: RepairPlan | null;
    try {
      plan = repairPlan(record, await deps.bootloader.getState(), await deps.sysroot.bootedCommit());
    } catch (e) {
      deps.emit({ phase: 'agent', updateId: null, state: 'idle', event: 'resume', message: `cannot tell whether the boot order needs repair: ${e instanceof Error ? e.message : String(e)}`, level: 'warning' });
      return record;
    }
    if (plan === null) return record;
    const at = deps.clock.now();
    const id = `repair-${Math.floor(at.getTime() / 1000)}`;
    const to = nextState('idle', 'repair');
    deps.emit({ phase: 'agent', updateId: id, state: to, event: 'repair', message: `idle → ${to} on repair: ${plan.detail}`, level: 'warning' });
    return this.run(await this.save(beginRepair(record, plan, { id, at, to })));
  }

  /** Starts an update from idle (the `check` event); an OtaError when one is in progress. */
  async check(begin: Omit<BeginOptions, 'at'>): Promise<AgentRecord> {
    return this.locked(async () => {
      const record = await this.options.store.load();
      if (record.state !== 'idle') throw busy(record, 'check');
      return this.run(await this.save(beginUpdate(record, { ...begin, at: this.options.deps.clock.now() })));
    });
  }

  /** Applies an update that waits in downloaded (the `apply` event). */
  async apply(): Promise<AgentRecord> {
    return this.locked(async () => {
      const record = await this.options.store.load();
      if (record.state !== 'downloaded') throw busy(record, 'apply');
      return this.run(await this.save(this.transition(record, { event: 'apply' })));
    });
  }

  /** Holds the agent's lock (store.ts) around a whole run, so two processes never drive the machine at once. */
  private async locked(work: () => Promise<AgentRecord>): Promise<AgentRecord> {
    const release = await this.options.store.lock();
    try {
      return await work();
    } finally {
      await release();
    }
  }

  /** The loop: the record passed in is saved and names the state to run. */
  private async run(saved: AgentRecord): Promise<AgentRecord> {
    let record = saved;
    while (!isResting(record.state)) {
      if (this.stopsIn(record.state)) return record;
      const update = record.update;
      if (update === null) throw new Error(`state ${record.state} without an update in the record, this is a bug`);
      const result = await this.handle(record.state, update, { floor: record.floor, skippedReleases: record.skippedReleases });
      record = await this.save(this.transition(record, result));
    }
    return record;
  }

  /** Whether to stop before running `state`: asked for, and safe to continue from on the next start. */
  private stopsIn(state: State): boolean {
    const action = RESUME[state];
    return (action === 'rerun' || action === 'booted') && this.options.shouldStop?.() === true;
  }

  private async handle(state: State, update: UpdateRecord, device: DeviceView): Promise<HandlerResult> {
    const handler = HANDLERS[state];
    if (handler === undefined) throw new Error(`no handler for working state ${state}, this is a bug`);
    try {
      return await handler(update, this.options.deps, device);
    } catch (e) {
      return { event: 'failed', detail: e instanceof Error ? e.message : String(e) };
    }
  }

  /** One edge of the table, with the rollback reason filled in when the handler gave none. */
  private transition(record: AgentRecord, result: HandlerResult): AgentRecord {
    const to = nextState(record.state, result.event);
    const reason = DEFAULT_REASON[result.event];
    const patch = to === 'rollingBack' && record.update?.rollbackReason === null && result.patch?.rollbackReason === undefined && reason !== undefined
      ? { ...result.patch, rollbackReason: reason }
      : result.patch;
    const next = applyTransition(record, { event: result.event, to, at: this.options.deps.clock.now(), detail: result.detail, patch, ...(result.floor === undefined ? {} : { floor: result.floor }) });
    const { deps } = this.options;
    const message = `${record.state} → ${to} on ${result.event}${result.detail === undefined ? '' : `: ${result.detail}`}`;
    deps.emit({ phase: 'agent', updateId: record.update?.id ?? null, state: to, event: result.event, message, level: to === 'rollingBack' || result.warning === true ? 'warning' : 'info' });
    return next;
  }

  private async save(record: AgentRecord): Promise<AgentRecord> {
    const saved = await this.options.store.save(record, this.options.deps.clock.now());
    if (saved.state !== record.state && saved.update?.rollbackReason === 'state-loop') {
      this.options.deps.emit({ phase: 'agent', updateId: saved.update.id, state: saved.state, event: 'stateLoop', message: `too many saves: forced into ${saved.state}`, level: 'warning' });
    }
    await this.options.onSaved?.(saved);
    return saved;
  }
}

function busy(record: AgentRecord, wanted: 'check' | 'apply'): OtaError {
  const what = record.update === null ? `the agent is ${record.state}` : `update ${record.update.id} is in ${record.state}`;
  return new OtaError('ERR_OTA_STATE', `cannot ${wanted}: ${what}`, {
    hint: wanted === 'apply' ? 'apply follows a download-only upgrade (`ota-agent upgrade --download-only`)' : 'one update at a time: wait for it to end (`ota-agent status`)',
  });
}
