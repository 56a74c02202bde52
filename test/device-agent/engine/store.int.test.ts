import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { run, start } from '../../../common/exec.js';
import { beginUpdate, initialRecord } from '../../../device-agent/engine/record.js';
import { STATE_FILE, StateStore, parseRecord } from '../../../device-agent/engine/store.js';

const WRITER = join(import.meta.dirname, 'store-writer.ts');
const writerArgv = (dir: string, mode: 'once' | 'loop') => [process.execPath, '--import', 'tsx', WRITER, dir, mode];

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-store-int-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Resolves once the writer has printed `saved n` for n >= count. */
function savedAtLeast(writer: ReturnType<typeof start>, count: number): { done: Promise<void>; last: () => number } {
  let last = 0;
  let buffered = '';
  const done = new Promise<void>((resolve) => {
    writer.onStdout((chunk) => {
      buffered += chunk;
      for (const m of buffered.matchAll(/saved (\d+)\n/g)) last = Math.max(last, Number(m[1]));
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
      if (last >= count) resolve();
    });
  });
  return { done, last: () => last };
}

describe('StateStore, crash-safety on real files', () => {
  it('a writer SIGKILLed mid-way leaves a whole record, the last or the one in flight; readers never see a torn one', async () => {
    const writer = start('state store writer', writerArgv(dir, 'loop'));
    const progress = savedAtLeast(writer, 30);
    const store = new StateStore({ dir });
    let reads = 0;
    let racing = true;
    const reader = (async () => {
      while (racing) {
        const text = await readFile(store.path, 'utf8').catch(() => null);
        if (text === null) continue;
        parseRecord(text, store.path); // throws on a torn record
        reads++;
      }
    })();
    await progress.done;
    writer.kill('SIGKILL');
    const { signal } = await writer.exited;
    racing = false;
    await reader;
    expect(signal).toBe('SIGKILL');
    expect(reads).toBeGreaterThan(0);
    const id = Number((await store.load()).update?.id.slice(1));
    expect([progress.last(), progress.last() + 1]).toContain(id);
    await store.removeLeftovers();
    expect(await readdir(dir)).toEqual([STATE_FILE]);
  });

  it('fsyncs the temp file before the rename and the directory after it (strace of a real save)', async () => {
    const { stderr } = await run('strace a state save', [
      'strace', '-f', '-qq', '-e', 'trace=openat,fsync,fdatasync,rename,renameat,renameat2', ...writerArgv(dir, 'once'),
    ]);
    const lines = stderr.split('\n').filter((l) => l.includes(dir) || /fsync|fdatasync/.test(l));
    const tmpOpen = lines.findIndex((l) => /openat\(.*\.state\.json\.[0-9a-f]+\.tmp.*O_CREAT/.test(l));
    expect(tmpOpen, stderr).toBeGreaterThanOrEqual(0);
    const tmpFd = /= (\d+)$/.exec(lines[tmpOpen]!.trim())?.[1];
    const renameAt = lines.findIndex((l) => /rename/.test(l) && l.includes(`${STATE_FILE}"`));
    const syncs = (fd: string) => lines.map((l, i) => (new RegExp(`f(data)?sync\\(${fd}[,)]`).test(l) ? i : -1)).filter((i) => i >= 0);
    expect(syncs(tmpFd!).some((i) => i > tmpOpen && i < renameAt), 'fsync of the temp file before the rename').toBe(true);
    const dirOpen = lines.findIndex((l, i) => i > renameAt && new RegExp(`openat\\(.*"${dir}", O_RDONLY`).test(l));
    expect(dirOpen, 'directory opened after the rename').toBeGreaterThan(renameAt);
    const dirFd = /= (\d+)$/.exec(lines[dirOpen]!.trim())?.[1];
    expect(syncs(dirFd!).some((i) => i > dirOpen), 'fsync of the directory after the rename').toBe(true);
  });
});

describe('StateStore on a file system that turns read-only (root: a tmpfs remounted read-only)', () => {
  const isRoot = process.getuid?.() === 0;
  it.skipIf(!isRoot)('after N writes a save fails with an OtaError and the Nth record stays readable', async () => {
    const mnt = join(dir, 'mnt');
    await mkdir(mnt);
    await run('mount a tmpfs', ['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
    try {
      const store = new StateStore({ dir: join(mnt, 'state') });
      const at = new Date('2026-01-01T00:00:00Z');
      const N = 3;
      for (let n = 1; n <= N; n++) await store.save(beginUpdate(initialRecord(), { id: `u${n}`, at }), at);
      await run('remount read-only', ['mount', '-o', 'remount,ro', mnt]);
      const e = await store.save(beginUpdate(initialRecord(), { id: `u${N + 1}`, at }), at).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(OtaError);
      expect((e as OtaError).code).toBe('ERR_OTA_IO');
      expect((e as OtaError).message).toContain(store.path);
      expect((await store.load()).update?.id).toBe(`u${N}`);
      expect(await readdir(join(mnt, 'state'))).toEqual([STATE_FILE]);
    } finally {
      await run('unmount the tmpfs', ['umount', mnt]);
    }
  });
});
