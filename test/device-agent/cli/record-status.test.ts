import { describe, expect, it } from 'vitest';
import { parseDocument } from '../../../contract/index.js';
import { parseDownloadProgress, updateStatus } from '../../../device-agent/cli/record-status.js';
import { statusDocument } from '../../../device-agent/cli/status.js';
import { applyTransition, beginUpdate, initialRecord, type AgentRecord, type UpdatePatch } from '../../../device-agent/engine/record.js';
import type { AgentEvent } from '../../../device-agent/engine/states.js';
import { nextState } from '../../../device-agent/engine/transitions.js';

// The update half of `ota-agent status` from records made by the engine's own functions and
// table, walked edge by edge as the machine does.

const AT = new Date('2026-03-01T10:00:00.000Z');
const NOW = new Date('2026-03-01T10:05:00.000Z');

function walk(record: AgentRecord, events: AgentEvent[], patch?: UpdatePatch): AgentRecord {
  return events.reduce((r, event) => applyTransition(r, { event, to: nextState(r.state, event), at: AT, ...(patch ? { patch } : {}) }), record);
}

const started = () => beginUpdate(initialRecord(), { id: 'poll-7', at: AT });
const phaseAfter = (events: AgentEvent[]) => updateStatus({ record: walk(started(), events) }, NOW).phase;

/** The document a device would publish with this record: it must be one the contract accepts. */
function published(record: AgentRecord) {
  return parseDocument('Status', JSON.stringify(statusDocument({ deviceId: 'gw-1', agentVersion: '0.1.0', now: NOW, deployments: [], record: { record } })));
}

describe('updateStatus', () => {
  it('a device that never updated is idle with nothing to report', () => {
    expect(updateStatus({ record: initialRecord() }, NOW)).toEqual({ phase: 'idle', updateId: null, progress: null, lastError: null });
  });

  it("follows the machine's states to the contract's phases", () => {
    expect(updateStatus({ record: started() }, NOW)).toMatchObject({ phase: 'checking', updateId: 'poll-7' });
    expect(phaseAfter(['updateAvailable'])).toBe('downloading');
    expect(phaseAfter(['updateAvailable', 'applyLater'])).toBe('downloaded');
    expect(phaseAfter(['updateAvailable', 'downloaded'])).toBe('staging');
    expect(phaseAfter(['updateAvailable', 'downloaded', 'armed'])).toBe('staging');
    expect(phaseAfter(['updateAvailable', 'downloaded', 'armed', 'deployed'])).toBe('rebooting');
    expect(phaseAfter(['updateAvailable', 'downloaded', 'armed', 'deployed', 'rebootDeferred'])).toBe('staged');
    expect(phaseAfter(['updateAvailable', 'downloaded', 'armed', 'deployed', 'rebootRequested', 'booted'])).toBe('verifying');
    expect(phaseAfter(['updateAvailable', 'downloaded', 'armed', 'deployed', 'rebootRequested', 'booted', 'healthy'])).toBe('verifying');
    expect(phaseAfter(['updateAvailable', 'downloaded', 'armed', 'deployed', 'rebootRequested', 'booted', 'unhealthy'])).toBe('rolling-back');
  });

  it('in reporting, the phase says how the update ended', () => {
    const toVerify: AgentEvent[] = ['updateAvailable', 'downloaded', 'armed', 'deployed', 'rebootRequested', 'booted'];
    expect(phaseAfter([...toVerify, 'healthy', 'committed'])).toBe('committed');
    expect(phaseAfter([...toVerify, 'fellBack', 'rolledBack'])).toBe('rolled-back');
    expect(phaseAfter(['refused'])).toBe('failed');
  });

  it('after a rollback the device is idle and its last error names the update and the reason', () => {
    const r = walk(walk(started(), ['updateAvailable', 'downloaded', 'armed', 'deployed', 'rebootRequested', 'booted'], { version: '1.1' }), ['unhealthy', 'rolledBack', 'reported'], { rollbackReason: 'unhealthy' });
    expect(published(r)).toMatchObject({
      phase: 'idle',
      updateId: null,
      lastError: { code: 'update-rolled-back', message: 'update poll-7 (1.1): unhealthy', at: AT.toISOString() },
    });
  });

  it('a committed update leaves no error', () => {
    const r = walk(started(), ['updateAvailable', 'downloaded', 'armed', 'deployed', 'rebootRequested', 'booted', 'healthy', 'committed', 'reported']);
    expect(r.lastResult?.result).toBe('committed');
    expect(published(r)).toMatchObject({ phase: 'idle', lastError: null });
  });

  it('an unreadable record is phase failed with its error, and a long message is cut to the contract limit', () => {
    const s = updateStatus({ error: { code: 'ERR_OTA_STATE', message: 'x'.repeat(5000), at: NOW } }, NOW);
    expect(s.phase).toBe('failed');
    expect(s.lastError?.code).toBe('ERR_OTA_STATE');
    expect(s.lastError?.message).toHaveLength(2048);
  });

  it("shows the progress file's counts while this update downloads, and only then", () => {
    const file = (id: string) => parseDownloadProgress(JSON.stringify({ updateId: id, doneBytes: 4096, totalBytes: 10000, at: '2026-03-01T10:04:59.000Z' }));
    const downloading = walk(started(), ['updateAvailable']);
    expect(updateStatus({ record: downloading }, NOW, file('poll-7')).progress).toEqual({ doneBytes: 4096, totalBytes: 10000 });
    expect(published(downloading)).toMatchObject({ phase: 'downloading', progress: null });
    // A file another update left behind (killed before removing it) is not this update's.
    expect(updateStatus({ record: downloading }, NOW, file('poll-6')).progress).toBeNull();
    expect(updateStatus({ record: walk(started(), ['updateAvailable', 'applyLater']) }, NOW, file('poll-7')).progress).toBeNull();
    expect(updateStatus({ record: initialRecord() }, NOW, file('poll-7')).progress).toBeNull();
  });
});

describe('parseDownloadProgress', () => {
  it('reads a whole file, with an unknown total as null', () => {
    expect(parseDownloadProgress('{"updateId":"poll-7","doneBytes":0,"totalBytes":null,"at":"2026-03-01T10:00:00Z"}')).toEqual({ updateId: 'poll-7', doneBytes: 0, totalBytes: null, at: '2026-03-01T10:00:00Z' });
  });

  it('a torn, foreign or out-of-range file is no progress, never an error', () => {
    for (const text of ['', '{"updateId":"poll-7","doneBytes":10', 'null', '[]', '{"updateId":"poll-7","doneBytes":-1,"totalBytes":null,"at":"2026-03-01T10:00:00Z"}', '{"updateId":"poll-7","doneBytes":1,"totalBytes":2,"at":"2026-03-01T10:00:00Z","extra":1}', '{"updateId":"poll-7","doneBytes":1,"totalBytes":2}']) {
      expect(parseDownloadProgress(text)).toBeNull();
    }
  });
});
