import { describe, expect, it } from 'vitest';
import { start } from '../../common/exec.js';
import { processRuns } from '../../common/pid.js';

// processRuns tells a live owner of a leftover from a dead one: this process runs, a process that
// has exited and been reaped does not, and a pid that is not a positive integer never does.

describe('processRuns', () => {
  it('is true for a running process and false for one that has ended', async () => {
    expect(processRuns(process.pid)).toBe(true);
    const child = start('a child that ends at once', [process.execPath, '-e', '0']);
    await child.exited;
    expect(child.pid).toBeGreaterThan(0);
    expect(processRuns(child.pid)).toBe(false);
  });

  it('is false for what is not a pid (0 would mean the whole process group)', () => {
    for (const pid of [0, -1, Number.NaN, 1.5]) expect(processRuns(pid)).toBe(false);
  });
});
