import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { start } from '../../common/exec.js';
import { createPidFile, processRuns } from '../../common/pid.js';

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

describe('createPidFile', () => {
  it('creates the file with this pid and the mode only when none exists, and its release removes it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-pidfile-'));
    try {
      const path = join(dir, 'x.lock');
      const release = await createPidFile(path, 0o600);
      expect(release).not.toBeNull();
      expect(await readFile(path, 'utf8')).toBe(`${process.pid}\n`);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect(await createPidFile(path, 0o600)).toBeNull();
      await release?.();
      await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
