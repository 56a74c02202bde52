/**
 * The bench's world, built from the agent tests' harness (test/device-agent/agent/device.ts): a
 * publisher and a static server on 127.0.0.1 holding release 1.0, and devices running it, each a
 * real OSTree sysroot in a folder of its own, plus a real Mosquitto on a free 127.0.0.1 port.
 * The idle and soak phases run on it; the update is timed on real images (real-update.ts).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleet, makeDevice, removeDevices, type Device, type Fleet } from '../../test/device-agent/agent/device.js';
import { startMosquitto, type Mosquitto } from '../../test/helpers/mosquitto.js';

export interface World {
  tmp: string;
  fleet: Fleet;
  broker: Mosquitto;
  /** Runs the agent's daemon. */
  agent: Device;
  /** Updated by hand with the ostree CLI, the peer. */
  cli: Device;
  close(): Promise<void>;
}

export async function makeWorld(): Promise<World> {
  const tmp = await mkdtemp(join(tmpdir(), 'ota-bench-agent-'));
  const f = await fleet(join(tmp, 'fleet'), ['1.0']);
  const broker = await startMosquitto();
  const agent = await makeDevice(f, { dir: join(tmp, 'agent') });
  const cli = await makeDevice(f, { dir: join(tmp, 'cli') });
  return {
    tmp,
    fleet: f,
    broker,
    agent,
    cli,
    async close() {
      await broker.stop();
      await f.close();
      await removeDevices(tmp);
    },
  };
}
