/**
 * The real `ota-agent` as a separate process against a harness device (device.ts), and what the
 * scenarios read back: the state record, the chain of its log, `ostree admin status` (the real CLI),
 * the commit the last stand-in boot started, and the stand-in reboot's requests.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, start, type Started } from '../../../common/exec.js';
import type { AgentRecord, LogEntry } from '../../../device-agent/engine/record.js';
import { StateStore } from '../../../device-agent/engine/store.js';
import { bundledChild } from '../../helpers/bundled-child.js';
import { ostree } from '../../helpers/ostree-cli.js';
import type { Device } from './device.js';
import { commitOfCommandLine } from './stand-in-boot.js';

const REPO = join(import.meta.dirname, '../../..');
const ANY_EXIT = Array.from({ length: 256 }, (_, i) => i);

/**
 * bin/ota-agent.js runs the compiled dist/; this runs the same entry point (test/helpers/ota-agent-cli.ts)
 * from the sources, bundled once per test file (test/helpers/bundled-child.ts).
 */
const CLI = join(REPO, 'test/helpers/ota-agent-cli.ts');
const cli = () => bundledChild(CLI);

export interface AgentRun {
  code: number;
  stdout: string;
  stderr: string;
}

const argv = async (d: Device, args: string[]) => [process.execPath, await cli(), '--root', d.root, ...args];

/** `ota-agent --root <device root> ARGS...` to its end, whatever its exit code. */
export async function otaAgent(d: Device, ...args: string[]): Promise<AgentRun> {
  return run(`ota-agent ${args[0] ?? ''}`, await argv(d, args), { cwd: REPO, okCodes: ANY_EXIT });
}

/** The same, running beside the test (to kill it, or to try a second command while it runs). */
export async function startOtaAgent(d: Device, ...args: string[]): Promise<Started> {
  return start(`ota-agent ${args[0] ?? ''}`, await argv(d, args), { cwd: REPO });
}

/** The agent's state record, read as the agent reads it on start. */
export async function record(d: Device): Promise<AgentRecord> {
  return new StateStore({ dir: d.stateDir }).load();
}

/** A log as `state:event` steps: the chain of states the scenarios assert exactly. */
export function chain(log: readonly LogEntry[]): string[] {
  return log.map((e) => `${e.state}:${e.event}`);
}

/** `ostree admin status --sysroot` (the real CLI) as commits in boot order. */
export async function adminStatus(d: Device): Promise<string[]> {
  const out = await ostree(['admin', 'status', `--sysroot=${d.sysroot}`]);
  return [...out.matchAll(/debian ([0-9a-f]{64})\.\d+/g)].map((m) => m[1]!);
}

/** The commit the kernel command line leads to: what runs since the last stand-in boot. */
export async function bootedCommit(d: Device): Promise<string> {
  return commitOfCommandLine(d.sysroot, await readFile(d.cmdline, 'utf8'));
}

/** How many reboots the agent asked the stand-in reboot for since the last stand-in boot. */
export async function rebootRequests(d: Device): Promise<number> {
  const text = await readFile(d.rebootRequests, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l === 'reboot').length;
}

/** The bootloader state of a device at rest: nothing pending, nothing rolled back. */
export const IDLE_BOOT_STATE = { bootcount: 0, upgradeAvailable: false, rollback: false, bootlimit: 3 };

/** The chains of the scenarios, as the table (device-agent/engine/transitions.ts) has them. */
export const CHAINS = {
  /** From `ota-agent upgrade` to the rest it reaches before the reboot. */
  toReboot: ['checking:begin', 'downloading:updateAvailable', 'arming:downloaded', 'deploying:armed', 'rebooting:deployed', 'awaitingReboot:rebootRequested'],
  /** After the boot into the update: `daemon --once` resumes and commits. */
  commit: ['awaitingReboot:resume', 'verifying:booted', 'committing:healthy', 'reporting:committed', 'idle:reported'],
  /** After the boot back into the previous deployment (asked for, or the bootloader's fallback). */
  rolledBack: ['awaitingReboot:resume', 'verifying:booted', 'rollingBack:fellBack', 'reporting:rolledBack', 'idle:reported'],
  /** A release refused by preflight: nothing changed. */
  refused: ['checking:begin', 'reporting:refused', 'idle:reported'],
} as const;

/** Resolves once `condition` holds, looking every 20 ms (a file appeared, a record changed); fails after `what` never did. */
export async function until(what: string, condition: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 6000; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${what} never happened`);
}
