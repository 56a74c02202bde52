/**
 * Several real agents for `ota fleet rollout`'s proof (docs/fleet.md, "ota fleet rollout"): harness devices
 * (test/device-agent/agent/device.ts: each its own sysroot running 1.0, the real U-Boot env) with their relays
 * started as real processes against a real Mosquitto; a rebooter that plays the stand-in reboot and boot at the
 * process boundary (it stops the relay, runs the stand-in boot, starts the relay again, as a reboot would) and
 * can hold a device's reboot; a recorder of every message under the prefix, in the order the broker sent them;
 * and the `ota` CLI as a process of its own, to be killed.
 */
import { join } from 'node:path';
import { start, type Started } from '../../common/exec.js';
import { readUnverified, rolloutBucket, type Rollout, type Status } from '../../contract/index.js';
import { connectBroker, type BrokerSession } from '../../host-tools/mqtt/client.js';
import type { Device, Fleet } from '../device-agent/agent/device.js';
import { rebootRequests, until } from '../device-agent/agent/run-agent.js';
import { standInBoot } from '../device-agent/agent/stand-in-boot.js';
import { makeMqttDevice, startRelay, type Relay } from '../device-agent/daemon/harness.js';

const OTA = join(import.meta.dirname, '../helpers/ota-cli.ts');

export interface FleetDevice {
  id: string;
  device: Device;
  relay: Relay;
}

export async function startDevices(f: Fleet, o: { tmp: string; broker: string; ids: string[] }): Promise<FleetDevice[]> {
  const out: FleetDevice[] = [];
  for (const id of o.ids) {
    const device = await makeMqttDevice(f, { dir: join(o.tmp, id), broker: o.broker, etc: { deviceId: id, remote: f.server.url } });
    out.push({ id, device, relay: await startRelay(device) });
  }
  return out;
}

/** The stand-in reboot's other half: each reboot a device asked for is done (relay stopped, stand-in boot, relay started), unless held. */
export class Rebooter {
  readonly held = new Set<string>();
  private readonly done = new Map<string, number>();
  private stopped = false;
  private loop: Promise<void>;

  constructor(private readonly devices: FleetDevice[]) {
    this.loop = this.run();
  }

  /** Reboots the device has had (those asked for and not held), since the test began. */
  reboots(id: string): number {
    return this.done.get(id) ?? 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await Promise.all(this.devices.map((d) => d.relay.stop()));
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      for (const d of this.devices) {
        if (this.held.has(d.id)) continue;
        // The stand-in boot clears the requests: any left is a reboot still to do.
        if ((await rebootRequests(d.device)) === 0) continue;
        this.done.set(d.id, this.reboots(d.id) + 1);
        await d.relay.stop();
        await standInBoot(d.device);
        d.relay = await startRelay(d.device);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export interface Recorded {
  topic: string;
  text: string;
}

/** Every message under `ota/`, in arrival order: statuses, events, rollout documents. */
export class Recorder {
  readonly log: Recorded[] = [];
  private constructor(private readonly session: BrokerSession) {}

  static async open(url: string): Promise<Recorder> {
    const r = new Recorder(await connectBroker({ url }));
    r.session.onMessage((topic, payload) => r.log.push({ topic, text: payload.toString('utf8') }));
    await r.session.subscribe('ota/#', 1);
    return r;
  }

  close(): Promise<void> {
    return this.session.close();
  }

  /** Each status a device published, with its place in the log. */
  statuses(id: string): { at: number; status: Status }[] {
    return this.log.flatMap((m, at) => (m.topic === `ota/devices/${id}/status` && m.text !== '' ? [{ at, status: JSON.parse(m.text) as Status }] : []));
  }

  /** Each rollout document on the group's topic (read unverified: the devices verify), with its place. */
  rollouts(group: string): { at: number; doc: Rollout; issuedAt: Date }[] {
    return this.log.flatMap((m, at) => {
      if (m.topic !== `ota/groups/${group}/rollout`) return [];
      const v = readUnverified('rollout', m.text, { checkExpiry: false });
      return [{ at, doc: v.doc, issuedAt: v.issuedAt }];
    });
  }

  /** Where a device first worked on `version` (a status naming it as its update), or null. */
  started(id: string, version: string): number | null {
    return this.statuses(id).find((s) => s.status.updateId === version && s.status.phase !== 'idle')?.at ?? null;
  }

  /** Where a device first reported running `version`, committed after its health checks (or idle after that), or null. */
  succeeded(id: string, version: string): number | null {
    return this.statuses(id).find((s) => s.status.deployments.booted?.version === version && (s.status.phase === 'committed' || s.status.phase === 'idle'))?.at ?? null;
  }

  async waitFor(what: string, condition: () => boolean): Promise<void> {
    await until(what, () => condition());
  }
}

/**
 * Waves (as `--waves` percentages) that hold the devices in groups of the sizes given, lowest buckets first:
 * computed with the contract's bucket function for this rollout id, so a test knows who is in each wave.
 */
export function wavesFor(id: string, devices: string[], sizes: number[]): { waves: string; members: string[][] } {
  const sorted = [...devices].sort((a, b) => rolloutBucket(id, a) - rolloutBucket(id, b));
  let taken = 0;
  const members: string[][] = [];
  const waves: string[] = [];
  for (const size of sizes) {
    taken += size;
    members.push(sorted.slice(0, taken));
    waves.push(taken >= devices.length ? '100%' : `${(rolloutBucket(id, sorted[taken - 1]!) + 1) / 100}%`);
  }
  return { waves: waves.join(','), members };
}

/** `ota fleet ...` as a process of its own (the source through tsx), not in CI mode so progress stays plain lines. */
export function startOta(...args: string[]): Started {
  return start('ota', [process.execPath, '--import', 'tsx', OTA, ...args], { env: { ...process.env, CI: '1' } });
}
