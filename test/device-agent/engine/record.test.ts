import { describe, expect, it } from 'vitest';
import {
  LOOP_ROLLBACK_SAVES,
  MAX_SKIPPED,
  MAX_STATE_SAVES,
  agentRecordSchema,
  applyTransition,
  beginUpdate,
  countSave,
  initialRecord,
  markResumed,
  skippedRelease,
  skipText,
  type AgentRecord,
  type RollbackReason,
} from '../../../device-agent/engine/record.js';
import { nextState } from '../../../device-agent/engine/transitions.js';
import type { AgentEvent } from '../../../device-agent/engine/states.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

/** Walks the table from the record's state along `events`, as the machine would. */
function walk(record: AgentRecord, events: AgentEvent[], patch = {}): AgentRecord {
  let r = record;
  events.forEach((event, i) => {
    r = applyTransition(r, { event, to: nextState(r.state, event), at: at(i + 1), patch: i === 0 ? patch : {} });
  });
  return r;
}

describe('the state record', () => {
  it('starts idle with nothing in progress, and the schema accepts it', () => {
    const r = initialRecord();
    expect(r).toEqual({ apiVersion: 'deb-ota/v1', kind: 'AgentState', state: 'idle', update: null, lastResult: null, floor: null, skippedReleases: [] });
    expect(agentRecordSchema.parse(r)).toEqual(r);
  });

  it('rejects unknown keys, unknown states and another apiVersion', () => {
    const r = beginUpdate(initialRecord(), { id: 'u1', at: at(0) });
    expect(agentRecordSchema.safeParse({ ...r, extra: 1 }).success).toBe(false);
    expect(agentRecordSchema.safeParse({ ...r, update: { ...r.update, extra: 1 } }).success).toBe(false);
    expect(agentRecordSchema.safeParse({ ...r, state: 'sleeping' }).success).toBe(false);
    expect(agentRecordSchema.safeParse({ ...r, apiVersion: 'deb-ota/v2' }).success).toBe(false);
    expect(agentRecordSchema.safeParse({ ...r, update: { ...r.update, fromCommit: 'abc' } }).success).toBe(false);
  });

  it('reads a record written before intent, bundlePath, belowFloor, minVersion, floor and skippedReleases existed, with their defaults', () => {
    const r = beginUpdate(initialRecord(), { id: 'u1', at: at(0) });
    const { intent, bundlePath, belowFloor, minVersion, ...oldUpdate } = r.update!;
    const { floor, skippedReleases, ...old } = { ...r, update: oldUpdate };
    expect([intent, bundlePath, belowFloor, minVersion, floor, skippedReleases]).toEqual(['upgrade', null, false, null, null, []]);
    expect(agentRecordSchema.parse(old)).toEqual(r);
  });

  it('begins an update with its intent, bundle and below-floor permission', () => {
    const r = beginUpdate(initialRecord(), { id: 'install-1.2', at: at(0), intent: 'install', bundlePath: '/tmp/u.otabundle', releaseJws: 'h.p.s' });
    expect(r.update).toMatchObject({ intent: 'install', bundlePath: '/tmp/u.otabundle', belowFloor: false, releaseJws: 'h.p.s' });
    expect(beginUpdate(initialRecord(), { id: 'rb', at: at(0), intent: 'rollback', belowFloor: true }).update).toMatchObject({ intent: 'rollback', belowFloor: true, releaseJws: null });
    expect(agentRecordSchema.safeParse({ ...r, update: { ...r.update, bundlePath: 'relative.otabundle' } }).success).toBe(false);
    expect(agentRecordSchema.safeParse({ ...r, update: { ...r.update, intent: 'sideload' } }).success).toBe(false);
  });

  it('sets the floor only when a transition names one', () => {
    const r = beginUpdate(initialRecord(), { id: 'u1', at: at(0) });
    expect(applyTransition(r, { event: 'updateAvailable', to: 'downloading', at: at(1) }).floor).toBeNull();
    const raised = applyTransition(r, { event: 'updateAvailable', to: 'downloading', at: at(1), floor: '1.1' });
    expect(raised.floor).toBe('1.1');
    expect(applyTransition(raised, { event: 'downloaded', to: 'arming', at: at(2) }).floor).toBe('1.1');
  });

  it('begins an update only from idle', () => {
    const r = beginUpdate(initialRecord(), { id: 'u1', at: at(0), downloadOnly: true });
    expect(r.state).toBe('checking');
    expect(r.update).toMatchObject({ id: 'u1', attempt: 1, saves: 0, downloadOnly: true, log: [{ state: 'checking', event: 'begin' }] });
    expect(() => beginUpdate(r, { id: 'u2', at: at(1) })).toThrow(/this is a bug/);
  });

  it('logs every transition in order and applies the handler patch', () => {
    const r = walk(beginUpdate(initialRecord(), { id: 'u1', at: at(0) }), ['updateAvailable', 'downloaded', 'armed'], {
      version: '1.1',
      fromCommit: A,
      toCommit: B,
    });
    expect(r.state).toBe('deploying');
    expect(r.update?.toCommit).toBe(B);
    expect(r.update?.log.map((e) => [e.state, e.event])).toEqual([
      ['checking', 'begin'],
      ['downloading', 'updateAvailable'],
      ['arming', 'downloaded'],
      ['deploying', 'armed'],
    ]);
  });

  it('turns a finished update into the last result: committed', () => {
    const events: AgentEvent[] = ['updateAvailable', 'downloaded', 'armed', 'deployed', 'rebootRequested', 'booted', 'healthy', 'committed', 'reported'];
    const r = walk(beginUpdate(initialRecord(), { id: 'u1', at: at(0) }), events, { version: '1.1', fromCommit: A, toCommit: B });
    expect(r.state).toBe('idle');
    expect(r.update).toBeNull();
    expect(r.lastResult).toMatchObject({ id: 'u1', version: '1.1', fromCommit: A, toCommit: B, result: 'committed', reason: null });
    expect(r.lastResult?.log).toHaveLength(events.length + 1);
  });

  it('turns a finished update into the last result: rolled back with its reason, refused with its message', () => {
    let r = beginUpdate(initialRecord(), { id: 'u1', at: at(0) });
    r = walk(r, ['updateAvailable', 'downloaded', 'armed', 'deployed', 'rebootRequested', 'booted']);
    r = applyTransition(r, { event: 'unhealthy', to: 'rollingBack', at: at(9), patch: { rollbackReason: 'unhealthy' }, detail: 'unit x failed' });
    r = walk(r, ['rolledBack', 'reported']);
    expect(r.lastResult).toMatchObject({ result: 'rolled-back', reason: 'unhealthy' });

    let q = beginUpdate(initialRecord(), { id: 'u2', at: at(0) });
    q = applyTransition(q, { event: 'refused', to: 'reporting', at: at(1), detail: 'release for board rpi4, this is qemu-arm64' });
    q = walk(q, ['reported']);
    expect(q.lastResult).toMatchObject({ id: 'u2', result: 'refused', reason: 'release for board rpi4, this is qemu-arm64' });
  });

  it('leaves no result for an up-to-date check and keeps the previous one', () => {
    const done = { ...initialRecord(), lastResult: walk(beginUpdate(initialRecord(), { id: 'u0', at: at(0) }), ['refused', 'reported']).lastResult };
    const r = walk(beginUpdate(done, { id: 'u1', at: at(0) }), ['upToDate']);
    expect(r).toEqual({ ...done, state: 'idle' });
  });

  it('counts a restart that resumes the update as an attempt and logs it', () => {
    const r = markResumed(walk(beginUpdate(initialRecord(), { id: 'u1', at: at(0) }), ['updateAvailable']), at(5));
    expect(r.update?.attempt).toBe(2);
    expect(r.update?.log.at(-1)).toEqual({ at: at(5).toISOString(), state: 'downloading', event: 'resume' });
  });
});

describe('skipped releases (rememberResult)', () => {
  /** An update of B from A that went as far as `events`, with `reason` as its rollback reason. */
  const ended = (reason: RollbackReason | null, events: AgentEvent[], start = initialRecord()): AgentRecord => {
    const r = walk(beginUpdate(start, { id: 'u1', at: at(0) }), ['updateAvailable', 'downloaded', 'armed'], { version: '1.1', fromCommit: A, toCommit: B });
    return walk({ ...r, update: { ...r.update!, rollbackReason: reason } }, events);
  };

  it('remembers the commit of an update that rolled back, with its version, reason and time', () => {
    const r = ended('unhealthy', ['failed', 'rolledBack', 'reported']);
    expect(r.lastResult?.result).toBe('rolled-back');
    expect(r.skippedReleases).toEqual([{ commit: B, version: '1.1', reason: 'unhealthy', at: r.lastResult!.at }]);
    expect(skippedRelease(r.skippedReleases, B)).toEqual(r.skippedReleases[0]);
    expect(skippedRelease(r.skippedReleases, A)).toBeUndefined();
    expect(skipText(r.skippedReleases[0]!)).toBe(`1.1 (${B.slice(0, 12)}) skipped: rolled back from at ${r.lastResult!.at} (unhealthy)`);
  });

  it('remembers a failed rollback and the loop breaker giving up, not a cut deploy (interrupted) nor a refusal', () => {
    expect(ended('failed', ['failed', 'failed', 'reported']).skippedReleases.map((s) => s.reason)).toEqual(['failed']);
    expect(ended('interrupted', ['interrupted', 'rolledBack', 'reported']).skippedReleases).toEqual([]);
    const refused = walk(beginUpdate(initialRecord(), { id: 'u2', at: at(0) }), ['refused', 'reported']);
    expect(refused.skippedReleases).toEqual([]);
    const r = ended('state-loop', []);
    const gaveUp = countSave({ ...r, state: 'rollingBack', update: { ...r.update!, saves: MAX_STATE_SAVES + LOOP_ROLLBACK_SAVES } }, at(9));
    expect(gaveUp.skippedReleases).toMatchObject([{ commit: B, reason: 'state-loop' }]);
  });

  it('forgets a commit once an update of it commits, keeps one entry per commit and at most MAX_SKIPPED', () => {
    const once = ended('unhealthy', ['failed', 'rolledBack', 'reported']);
    const twice = ended('deadline', ['failed', 'rolledBack', 'reported'], once);
    expect(twice.skippedReleases.map((s) => s.reason)).toEqual(['deadline']);
    expect(ended(null, ['deployed', 'rebootRequested', 'booted', 'healthy', 'committed', 'reported'], twice).skippedReleases).toEqual([]);
    const full = { ...initialRecord(), skippedReleases: Array.from({ length: MAX_SKIPPED }, (_, i) => ({ commit: i.toString(16).padStart(64, 'c'), version: null, reason: 'unhealthy', at: at(i).toISOString() })) };
    const next = ended('unhealthy', ['failed', 'rolledBack', 'reported'], full).skippedReleases;
    expect(next).toHaveLength(MAX_SKIPPED);
    expect(next[0]!.commit).toBe(full.skippedReleases[1]!.commit);
    expect(next.at(-1)!.commit).toBe(B);
    expect(agentRecordSchema.safeParse({ ...full, skippedReleases: [...full.skippedReleases, next.at(-1)] }).success).toBe(false);
  });
});

describe('the loop breaker (countSave)', () => {
  const looping = (saves: number, state: AgentRecord['state'] = 'verifying'): AgentRecord => {
    const r = beginUpdate(initialRecord(), { id: 'u1', at: at(0) });
    return { ...r, state, update: { ...r.update!, saves } };
  };

  it('counts saves and changes nothing else up to MAX_STATE_SAVES', () => {
    const r = looping(MAX_STATE_SAVES - 1);
    expect(countSave(r, at(1))).toEqual({ ...r, update: { ...r.update, saves: MAX_STATE_SAVES } });
    expect(countSave(initialRecord(), at(1))).toEqual(initialRecord());
  });

  it('forces rollingBack with reason state-loop on the save past the limit, once', () => {
    const r = countSave(looping(MAX_STATE_SAVES), at(1));
    expect(r.state).toBe('rollingBack');
    expect(r.update?.rollbackReason).toBe('state-loop');
    expect(r.update?.log.at(-1)).toMatchObject({ state: 'rollingBack', event: 'stateLoop' });
    expect(r.update?.log.at(-1)?.detail).toContain('verifying');
    // the forced rollback then runs its course: later saves are counted, not forced again
    const later = countSave({ ...r, state: 'rebooting' }, at(2));
    expect(later.state).toBe('rebooting');
  });

  it('gives up in idle with a failed result when the rollback loops too', () => {
    const r = countSave(looping(MAX_STATE_SAVES + LOOP_ROLLBACK_SAVES, 'rollingBack'), at(1));
    expect(r.state).toBe('idle');
    expect(r.update).toBeNull();
    expect(r.lastResult).toMatchObject({ id: 'u1', result: 'failed' });
    expect(r.lastResult?.reason).toMatch(/^state-loop/);
  });
});
