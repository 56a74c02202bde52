import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { progressOfEvent, progressWriter, writeDue } from '../../../device-agent/agent/progress.js';
import { parseDownloadProgress } from '../../../device-agent/cli/record-status.js';

const AT = new Date('2026-03-01T12:00:00Z');

describe('progressOfEvent', () => {
  it('counts a delta part in bytes, with its total', () => {
    expect(progressOfEvent('u1', { phase: 'fetch', message: 'delta part 1/2', bytes: 10, current: 10, total: 100 }, AT)).toEqual({ updateId: 'u1', doneBytes: 10, totalBytes: 100, at: AT.toISOString() });
  });
  it('gives a pull no total in bytes: its counts are objects', () => {
    expect(progressOfEvent('u1', { phase: 'fetch', message: 'pulling', bytes: 5000, current: 3, total: 9 }, AT)?.totalBytes).toBeNull();
  });
  it('ignores events without bytes', () => {
    expect(progressOfEvent('u1', { phase: 'import', message: 'applying', total: 2 }, AT)).toBeNull();
  });
});

describe('writeDue', () => {
  it('writes the first time and then once a second at most', () => {
    expect([writeDue(null, 5), writeDue(1000, 1999), writeDue(1000, 2000)]).toEqual([true, false, true]);
  });
});

describe('progressWriter, on a real state dir', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-progress-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes what status reads, at most once a second, and removes it when the download ends', async () => {
    let ms = AT.getTime();
    const w = progressWriter({ stateDir: dir, now: () => new Date(ms) });
    const ev = (bytes: number) => ({ phase: 'fetch' as const, message: 'delta part 1/1', bytes, current: bytes, total: 1000 });
    w.fetched('u1', ev(100));
    ms += 500;
    w.fetched('u1', ev(200)); // within the second: not written
    await w.settled();
    const first = parseDownloadProgress(await readFile(join(dir, 'progress.json'), 'utf8'));
    expect(first).toEqual({ updateId: 'u1', doneBytes: 100, totalBytes: 1000, at: AT.toISOString() });
    ms += 500;
    w.fetched('u1', ev(300));
    await w.settled();
    expect(parseDownloadProgress(await readFile(join(dir, 'progress.json'), 'utf8'))?.doneBytes).toBe(300);
    await w.ended();
    await expect(stat(join(dir, 'progress.json'))).rejects.toThrow(/ENOENT/);
  });
});
