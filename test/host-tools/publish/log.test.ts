import { describe, expect, it } from 'vitest';
import { formatLogEntry, type LogEntry } from '../../../host-tools/publish/log.js';

// The text of one `ota log` entry: a first release is a count (every package would be "added"),
// a later one lists its package changes, or says there were none.

const base: LogEntry = {
  version: '1.0',
  publishedAt: '2026-12-02T10:00:00Z',
  commit: 'a'.repeat(64),
  builtCommit: 'b'.repeat(64),
  subject: 'gateway',
  builtAt: '2026-12-02T09:00:00Z',
  minVersion: null,
  changes: { previousVersion: null, added: [{ name: 'bash', version: '5.2' }, { name: 'curl', version: '7.88' }], removed: [], changed: [] },
};

describe('formatLogEntry', () => {
  it('counts the packages of a first release instead of listing each as added', () => {
    expect(formatLogEntry(base)).toEqual(['1.0  2026-12-02T10:00:00Z  aaaaaaaaaaaa  gateway', '    first release: 2 packages']);
  });

  it('lists added, removed and changed packages of a later release', () => {
    const e: LogEntry = {
      ...base,
      version: '1.1',
      changes: { previousVersion: '1.0', added: [{ name: 'curl', version: '7.88' }], removed: [{ name: 'nano', version: '7.2' }], changed: [{ name: 'tzdata', from: '2026b', to: '2026f' }] },
    };
    expect(formatLogEntry(e).slice(1)).toEqual(['    + curl 7.88', '    - nano 7.2', '    ~ tzdata 2026b -> 2026f']);
  });

  it('says so when nothing changed, and when there is no manifest', () => {
    expect(formatLogEntry({ ...base, changes: { previousVersion: '0.9', added: [], removed: [], changed: [] } })[1]).toBe('    no package changes since 0.9');
    expect(formatLogEntry({ ...base, changes: null })[1]).toBe('    (no release manifest)');
  });
});
