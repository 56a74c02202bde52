import { describe, expect, it } from 'vitest';
import { deployVersionProblem } from '../../../device-agent/cli/commands/deploy.js';
import { updateId, verbOutcome } from '../../../device-agent/cli/verb.js';
import { updateSchema } from '../../../device-agent/engine/record.js';
import { applyTransition, beginUpdate, initialRecord, type AgentRecord } from '../../../device-agent/engine/record.js';
import type { AgentEvent, State } from '../../../device-agent/engine/states.js';

const AT = new Date('2026-03-01T12:00:00Z');
const IDLE = initialRecord();

/** The record after `steps` from a fresh update `id`, each step an edge [event, to]. */
function walk(id: string, steps: [AgentEvent, State][], options: { downloadOnly?: boolean; from?: AgentRecord } = {}): AgentRecord {
  let r = beginUpdate(options.from ?? IDLE, { id, at: AT, downloadOnly: options.downloadOnly ?? false });
  let t = AT.getTime();
  for (const [event, to] of steps) r = applyTransition(r, { event, to, at: new Date((t += 1000)), ...(event === 'refused' ? { detail: 'reason: board' } : {}), ...(event === 'updateAvailable' ? { patch: { version: '1.1' } } : {}) });
  return r;
}

describe('verbOutcome', () => {
  it('is 0 for an update that awaits its reboot, asked for or left to a person', () => {
    const asked = walk('u1', [['updateAvailable', 'downloading'], ['downloaded', 'arming'], ['armed', 'deploying'], ['deployed', 'rebooting'], ['rebootRequested', 'awaitingReboot']]);
    expect(verbOutcome(IDLE, asked)).toEqual({ exitCode: 0, line: 'u1: 1.1 is deployed; a reboot was requested' });
    const manual = walk('u1', [['updateAvailable', 'downloading'], ['downloaded', 'arming'], ['armed', 'deploying'], ['deployed', 'rebooting'], ['rebootDeferred', 'awaitingReboot']]);
    expect(verbOutcome(IDLE, manual).line).toContain('reboot to finish it (reboot: manual)');
  });

  it('is 0 for a download that waits, and says why', () => {
    const only = walk('u1', [['updateAvailable', 'downloading'], ['applyLater', 'downloaded']], { downloadOnly: true });
    expect(verbOutcome(IDLE, only)).toMatchObject({ exitCode: 0, line: expect.stringContaining('(download only)') });
    const window = walk('u1', [['updateAvailable', 'downloading'], ['applyLater', 'downloaded']]);
    expect(verbOutcome(IDLE, window).line).toContain('outside the maintenance window');
  });

  it('is 1 with the reason for a refused or rolled-back update, 0 for a committed one', () => {
    const refused = walk('u1', [['refused', 'reporting'], ['reported', 'idle']]);
    expect(verbOutcome(IDLE, refused)).toEqual({ exitCode: 1, line: 'u1: refused: reason: board' });
    const committed = walk('u2', [['updateAvailable', 'downloading'], ['committed', 'reporting'], ['reported', 'idle']]);
    expect(verbOutcome(IDLE, committed)).toEqual({ exitCode: 0, line: 'u2 (1.1): committed' });
  });

  it('is 0 and "up to date" when the run left no result of its own', () => {
    const refused = walk('u1', [['refused', 'reporting'], ['reported', 'idle']]);
    expect(verbOutcome(IDLE, IDLE)).toEqual({ exitCode: 0, line: 'up to date: nothing to do' });
    // an earlier update's result is not this run's
    expect(verbOutcome(refused, refused)).toEqual({ exitCode: 0, line: 'up to date: nothing to do' });
  });
});

describe('update ids and deploy VERSION', () => {
  it('cuts an id made from a long version to what the record takes', () => {
    const long = `1.${'0'.repeat(126)}`;
    expect(deployVersionProblem(long)).toBeNull();
    const id = updateId('deploy', long);
    expect(id).toHaveLength(128);
    expect(updateSchema.shape.id.safeParse(id).success).toBe(true);
    expect(updateId('install', '1.2')).toBe('install-1.2');
  });

  it('names what is wrong with VERSION: too long, blanks, not a Debian version', () => {
    expect(deployVersionProblem(`1.${'0'.repeat(127)}`)).toBe('is longer than 128 characters (129)');
    expect(deployVersionProblem('1.2 ')).toBe('has surrounding blanks');
    expect(deployVersionProblem('v1.2')).toMatch(/^is not a Debian version: /);
    expect(deployVersionProblem('2.0~rc1')).toBeNull();
  });
});
