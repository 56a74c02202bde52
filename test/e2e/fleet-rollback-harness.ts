/**
 * Several real agents for the fleet rollback proofs (docs/fleet.md, "ota fleet rollback"): each a
 * harness device (test/device-agent/agent/device.ts: its own sysroot, releases by the real
 * `ota publish` on 127.0.0.1, the stand-in reboot and boot) with its relay as the real process
 * against one Mosquitto, and an observer per device. `ota fleet rollback` runs as the real CLI, its
 * own process; the test plays the reboots the devices ask for while it waits.
 */
import { join } from 'node:path';
import { start } from '../../common/exec.js';
import type { Device, Fleet } from '../device-agent/agent/device.js';
import { rebootRequests, until } from '../device-agent/agent/run-agent.js';
import { makeMqttDevice, startRelay, type Relay } from '../device-agent/daemon/harness.js';
import { observe, type Observer } from '../device-agent/daemon/observer.js';
import { online, reboot } from '../device-agent/daemon/scenario.js';
import { bundledChild } from '../helpers/bundled-child.js';

const REPO = join(import.meta.dirname, '../..');
const OTA = join(REPO, 'test/helpers/ota-cli.ts');

export interface Agent {
  id: string;
  group: string;
  d: Device;
  obs: Observer;
  relay: Relay;
}

export interface AgentSpec {
  id: string;
  group: string;
  running: string;
  before: string[];
}

/** A device with its relay started and online. */
export async function startAgent(f: Fleet, broker: string, tmp: string, s: AgentSpec): Promise<Agent> {
  const d = await makeMqttDevice(f, { dir: join(tmp, s.id), broker, before: s.before, running: s.running, etc: { deviceId: s.id, group: s.group } });
  const obs = await observe(broker, s.id);
  const relay = await startRelay(d);
  await online(obs);
  // The retained status the rollback plans from: the report after the connection.
  await obs.waitFor('status', (st) => st.deployments.booted !== null, `${s.id}'s first status`);
  return { id: s.id, group: s.group, d, obs, relay };
}

/** Once the agent asks the stand-in reboot for a reboot: the reboot, and its relay again. */
export async function rebootWhenAsked(a: Agent, from: number): Promise<void> {
  await until(`${a.id} asked for a reboot`, async () => (await rebootRequests(a.d)) === 1);
  // The status saying so is out before the relay stops (it stops only after its worker).
  await a.obs.waitFor('status', (s) => s.phase === 'staged', `${a.id} staged`, from);
  const booted = await reboot(a.d, a.relay, a.obs);
  a.relay = booted.relay;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `ota fleet rollback ...` (the real CLI, its own process) with the fleet's key and the broker. */
export async function fleetRollbackCli(f: Fleet, broker: string, ...args: string[]): Promise<{ done: Promise<CliRun> }> {
  const argv = [process.execPath, await bundledChild(OTA), 'fleet', 'rollback', '--broker', broker, '--key', f.publisher.keyDir, '--timeout', '4m', ...args];
  const child = start('ota fleet rollback', argv, { cwd: REPO });
  // Wrapped: a promise returned from an async function would be awaited with it, before the reboots.
  return { done: child.exited.then((r) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr })) };
}

/** The booted version of a retained status the observer saw last. */
export function lastBooted(a: Agent): string | null {
  return a.obs.seen.status.at(-1)?.deployments.booted?.version ?? null;
}

export async function stopAgents(agents: Iterable<Agent>): Promise<void> {
  for (const a of agents) {
    await a.relay.stop().catch(() => {});
    await a.obs.close();
  }
}
