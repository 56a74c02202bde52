import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBounded } from '../../common/exec.js';
import { ended, readPid, writeScript } from '../helpers/processes.js';

// A hung child is one that never ends by itself, so any timeout separates it from one that
// finishes; the timeouts below are long enough for a shell to start and short enough to wait for.
const HUNG = { timeoutMs: 1_000, graceMs: 500 };
const NEVER = { timeoutMs: 600_000, graceMs: 500 };

describe('runBounded', () => {
  let dir: string;
  const strays: number[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-bounded-'));
  });
  afterEach(async () => {
    for (const pid of strays.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('reports the exit code and output of a child that finishes, without throwing on failure', async () => {
    const ok = await runBounded('ok', ['sh', '-c', 'echo fine'], NEVER);
    expect(ok).toMatchObject({ code: 0, signal: null, stdout: 'fine\n', timedOut: false, aborted: false });
    const bad = await runBounded('bad', ['sh', '-c', 'echo broken >&2; exit 3'], NEVER);
    expect(bad).toMatchObject({ code: 3, stderr: 'broken\n', timedOut: false });
  });

  it('ends a hung child with SIGTERM at its timeout', async () => {
    const r = await runBounded('hung', ['sleep', '1000'], HUNG);
    expect(r).toMatchObject({ code: null, signal: 'SIGTERM', timedOut: true });
  });

  it('kills with SIGKILL a child that ignores SIGTERM, and its children with it', async () => {
    const pidFile = join(dir, 'pid');
    await writeScript(join(dir, 'stubborn'), `trap "" TERM\nsleep 1000 &\necho $! > ${pidFile}\nwait\n`);
    const r = await runBounded('stubborn', [join(dir, 'stubborn')], HUNG);
    expect(r).toMatchObject({ signal: 'SIGKILL', timedOut: true });
    const child = await readPid(pidFile);
    strays.push(child);
    expect(await ended(child)).toBe(true);
  });

  it('on abort kills the whole group at once', async () => {
    const pidFile = join(dir, 'pid');
    await writeScript(join(dir, 'parent'), `sleep 1000 &\necho $! > ${pidFile}\nwait\n`);
    const stop = new AbortController();
    const pending = runBounded('parent', [join(dir, 'parent')], { ...NEVER, signal: stop.signal });
    const child = await readPid(pidFile);
    strays.push(child);
    stop.abort();
    expect(await pending).toMatchObject({ signal: 'SIGKILL', aborted: true, timedOut: false });
    expect(await ended(child)).toBe(true);
  });

  it('returns when the child exits though a child it forked holds the output pipe, and kills that child', async () => {
    const pidFile = join(dir, 'pid');
    await writeScript(join(dir, 'leaver'), `sleep 1000 &\necho $! > ${pidFile}\necho done\nexit 0\n`);
    const r = await runBounded('leaver', [join(dir, 'leaver')], NEVER);
    expect(r).toMatchObject({ code: 0, stdout: 'done\n', timedOut: false });
    const child = await readPid(pidFile);
    strays.push(child);
    expect(await ended(child)).toBe(true);
  });

  it('returns though a process that left the group (setsid) holds the output pipe open', async () => {
    const pidFile = join(dir, 'pid');
    await writeScript(join(dir, 'escaper'), `setsid sh -c 'echo $$ > ${pidFile}; exec sleep 1000' &\nwhile [ ! -s ${pidFile} ]; do :; done\nexit 4\n`);
    const r = await runBounded('escaper', [join(dir, 'escaper')], NEVER);
    strays.push(await readPid(pidFile));
    expect(r).toMatchObject({ code: 4, timedOut: false });
  });

  it('reports a program that cannot start instead of throwing', async () => {
    const missing = await runBounded('missing', [join(dir, 'no-such-check')], NEVER);
    expect(missing.spawnError).toMatch(/ENOENT/);
    await writeFile(join(dir, 'plain'), 'echo not executable\n');
    const plain = await runBounded('plain', [join(dir, 'plain')], NEVER);
    expect(plain.spawnError).toMatch(/EACCES/);
    expect(plain.code).toBeNull();
  });

  it('keeps only the tail of a chatty child', async () => {
    const r = await runBounded('chatty', ['sh', '-c', 'i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done'], { ...NEVER, keepBytes: 64 });
    expect(r.stdout.length).toBeLessThanOrEqual(64);
    expect(r.stdout.endsWith('line1999\n')).toBe(true);
  });
});
