import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mosquittoConf } from '../../host-tools/fleet/acl-files.js';
import { fleetAcl } from '../../host-tools/fleet/acl.js';
import { freePort, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { jobs, jwsShaped, relayRoot, startRelay, until } from '../device-agent/daemon/relay-harness.js';
import { credentials, grantedQos, openClient } from '../host-tools/fleet/acl-clients.js';

/**
 * Both halves under `ota fleet acl`'s rules (docs/fleet.md, "Access control"): the device's real
 * relay process (its worker a stand-in, at the process boundary) connects to a real Mosquitto
 * with the files and the client certificate `ota fleet acl` made, and everything it does is
 * allowed: its presence, its reports, the commands the operator sends it, its last will.
 */
let root: string;
let out: string;
let broker: Mosquitto;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-acl-relay-'));
  // The relay harness's device: gw-1 in group lab.
  await writeFile(join(root, 'fleet.yaml'), 'devices:\n  - { id: gw-1, group: lab }\noperators: [ops]\n');
  out = join(root, 'acl');
  await fleetAcl({ devicesFile: join(root, 'fleet.yaml'), out });
  const passwordPort = await freePort();
  broker = await startMosquitto({ config: (port) => mosquittoConf({ brokerDir: join(out, 'broker'), mtlsPort: port, passwordPort, bind: '127.0.0.1' }).split('\n') });
});

afterAll(async () => {
  await broker?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('the device relay under the fleet ACL, on a real Mosquitto', () => {
  it('by its certificate: presence, status and inventory reach the operator, a command reaches its worker, its last will says offline', async () => {
    const dev = (f: string) => join(out, 'devices', 'gw-1', f);
    const r = await relayRoot({ url: `mqtts://127.0.0.1:${broker.port}`, caFile: dev('ca.crt'), certFile: dev('client.crt'), keyFile: dev('client.key') });
    const c = await credentials(out, 'operators', 'ops');
    const ops = await openClient(`mqtts://127.0.0.1:${broker.port}`, { protocolVersion: 5, ca: c.ca, cert: c.cert, key: c.key });
    const relay = await startRelay(r);
    try {
      expect(await grantedQos(ops, 'ota/devices/gw-1/#')).toBe(1);
      const presence = () => ops.received.filter((m) => m.topic === 'ota/devices/gw-1/online').map((m) => (JSON.parse(m.payload) as { online: boolean }).online);
      await until('presence online', () => presence().includes(true));
      await until('status and inventory, from the report', () => ['status', 'inventory'].every((leaf) => ops.received.some((m) => m.topic === `ota/devices/gw-1/${leaf}`)));
      await ops.client.publishAsync('ota/devices/gw-1/commands', jwsShaped('command'), { qos: 1 });
      await until('the command reached the worker', async () => (await jobs(r)).some((j) => j.job === 'command'));
      relay.kill('SIGKILL');
      await relay.exited;
      await until('the last will says offline', () => presence().at(-1) === false);
      expect(relay.journal()).not.toMatch(/refused|not authori[sz]ed/i);
    } finally {
      relay.kill('SIGKILL');
      await relay.exited;
      await ops.client.endAsync(true);
      await r.remove();
    }
  });
});
