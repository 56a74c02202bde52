/**
 * What the whole-agent crash tests share (crash.int.test.ts, readonly.int.test.ts): starting the crash agent
 * (crash-agent.ts, bundled) again and again until it rests, with a stand-in boot whenever it asked for a
 * reboot, and the exact chain an update interrupted once must end with (RESUME in engine/transitions.ts).
 */
import { join } from 'node:path';
import { start } from '../../../common/exec.js';
import type { State } from '../../../device-agent/engine/states.js';
import { RESUME } from '../../../device-agent/engine/transitions.js';
import type { Device } from './device.js';
import { rebootRequests } from './run-agent.js';
import { standInBoot } from './stand-in-boot.js';

const REPO = join(import.meta.dirname, '../../..');

/** One start of the crash agent: `check` starts an update as a poll does, `resume` is the daemon's start. */
export function startCrashAgent(child: string, d: Device, mode: 'check' | 'resume') {
  return start('crash agent', [process.execPath, child, d.root, d.dir, mode], { cwd: REPO }).exited;
}

/** Starts the agent process (a check, then resumes) again and again, with a stand-in boot whenever it asked for a reboot, until it rests in idle. */
export async function runToRest(child: string, d: Device, o: { maxRuns: number; first?: 'check' | 'resume' }): Promise<{ kills: number }> {
  let kills = 0;
  for (let i = 0, mode = o.first ?? 'check'; i < o.maxRuns; i++, mode = 'resume') {
    const { code, signal, stdout, stderr } = await startCrashAgent(child, d, mode);
    if (signal === 'SIGKILL') kills++;
    else if (code !== 0) throw new Error(`the agent exited ${code}: ${stderr}`);
    else if (stdout.trim() === 'idle') return { kills };
    if ((await rebootRequests(d)) > 0) await standInBoot(d);
  }
  throw new Error(`the agent did not come to rest in ${o.maxRuns} starts`);
}

/**
 * The exact log of an update killed once right after the save that wrote `at` log entries in `state`
 * (or, `afterWork`, after that state's work and before its next save), from the log of the same update
 * run without a kill (RESUME in engine/transitions.ts).
 */
export function expectedChain(clean: string[], state: State, at: number, afterWork = false): string[] {
  const [head, rest] = [clean.slice(0, at), clean.slice(at)];
  switch (RESUME[state]) {
    case 'rest':
      return clean;
    case 'interrupted':
      return [...head, `${state}:resume`, 'rollingBack:interrupted', 'reporting:rolledBack', 'idle:reported'];
    case 'booted':
      // awaitingReboot is resumed on every start anyway; rebooting finds it was not rebooted and reboots.
      if (state === 'awaitingReboot') return clean;
      if (afterWork) return [...head, `${state}:resume`, ...rest.slice(2)]; // the reboot it asked for happened: verifying goes on
      return [...head, `${state}:resume`, 'verifying:booted', 'rebooting:notRebooted', ...rest];
    case 'rerun':
      return [...head, `${state}:resume`, ...rest];
  }
}
