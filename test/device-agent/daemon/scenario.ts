/**
 * Steps the MQTT scenarios share: an announced release taken to the stand-in reboot, the boot,
 * the relay started again as a booted device starts it, and what must hold after each.
 */
import { expect } from 'vitest';
import type { Status, UpdatePhase } from '../../../contract/index.js';
import type { Device } from '../agent/device.js';
import { rebootRequests, until } from '../agent/run-agent.js';
import { standInBoot } from '../agent/stand-in-boot.js';
import { startRelay, type Relay } from './harness.js';
import type { Observer } from './observer.js';

/** The phases of a list of statuses, each run of the same phase once. */
export function phases(statuses: readonly Status[]): UpdatePhase[] {
  return statuses.map((s) => s.phase).filter((p, i, all) => i === 0 || all[i - 1] !== p);
}

/** Whether `want` appears in `have` in order (other items may sit between). */
export function inOrder<T>(have: readonly T[], want: readonly T[]): boolean {
  let i = 0;
  for (const h of have) if (i < want.length && h === want[i]) i++;
  return i === want.length;
}

/** The relay's presence went online (from the index `from` of the presence messages on). */
export function online(obs: Observer, from = 0): Promise<unknown> {
  return obs.waitFor('presence', (p) => p.online, 'presence online', from);
}

/** Waits until the stand-in reboot was asked for and the retained status says so. */
export async function toReboot(d: Device, obs: Observer, from: number): Promise<Status> {
  await until('the stand-in reboot was asked for', async () => (await rebootRequests(d)) === 1);
  return obs.waitFor('status', (s) => s.phase === 'staged', 'the status staged after the reboot request', from);
}

/**
 * The device reboots: the relay goes (SIGTERM, as systemd stops it at shutdown: presence offline),
 * the stand-in boot picks the next entry, and the relay starts again; returns the new relay once it
 * is online again.
 */
export async function reboot(d: Device, relay: Relay, obs: Observer): Promise<{ relay: Relay; booted: string | null }> {
  const stopped = await relay.stop();
  expect(stopped.code, relay.journal()).toBe(0);
  const boot = await standInBoot(d);
  const from = obs.seen.presence.length;
  const next = await startRelay(d);
  await online(obs, from);
  return { relay: next, booted: boot.entry.commit };
}
