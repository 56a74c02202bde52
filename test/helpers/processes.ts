import { chmod, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Watching the processes a test's scripts start: whether one still runs (a zombie nobody reaped
 * counts as gone: the container's init may not reap), and waiting for the pid a script writes
 * once it is ready, so a test acts on an event rather than on a guess of how fast the machine is.
 */
export async function isRunning(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // the state follows the command name, which is in parentheses and may hold spaces
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * Resolves with true once `pid` has ended. A killed process takes a moment to die (its pipes may
 * close before it does), so this waits for the outcome; one that never ends fails by the test's
 * own timeout, not by a guess of how long dying takes.
 */
export async function ended(pid: number): Promise<true> {
  while (await isRunning(pid)) await sleep(20);
  return true;
}

/** The pid a script wrote to `path`, once it has been written in full (a line ending in a newline). */
export async function readPid(path: string): Promise<number> {
  for (;;) {
    const text = await readFile(path, 'utf8').catch(() => '');
    if (text.endsWith('\n')) return Number(text.trim());
    await sleep(20);
  }
}

/** Writes an executable script (mode 0755). */
export async function writeScript(path: string, body: string): Promise<void> {
  await writeFile(path, body.startsWith('#!') ? body : `#!/bin/sh\n${body}`);
  await chmod(path, 0o755);
}
