import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mosquittoConf } from '../../../host-tools/fleet/acl-files.js';
import { fleetAcl } from '../../../host-tools/fleet/acl.js';
import { ota } from '../../helpers/cli.js';
import { freePort, startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { credentials, openClient } from './acl-clients.js';
import { aclProof, FLEET_YAML, type ProofBroker } from './acl-proof.js';

/**
 * `ota fleet acl`'s files in a real Mosquitto (the config snippet it writes, on free ports):
 * gw-1 and the operator connect with their client certificates (MQTT 5; the CN is the user
 * name), gw-2 with its password (MQTT 3.1.1), and Mosquitto itself refuses what the rules refuse.
 */
let root: string;
let broker: Mosquitto;
let proof: ProofBroker;
let out: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-acl-mosquitto-'));
  await writeFile(join(root, 'fleet.yaml'), FLEET_YAML);
  out = join(root, 'acl');
  await fleetAcl({ devicesFile: join(root, 'fleet.yaml'), out });
  const passwordPort = await freePort();
  broker = await startMosquitto({ config: (port) => mosquittoConf({ brokerDir: join(out, 'broker'), mtlsPort: port, passwordPort, bind: '127.0.0.1' }).split('\n') });
  const byCert = new Set(['gw-1', 'ops']);
  const connect = async (user: string, extra: IClientOptions = {}) => {
    const c = await credentials(out, user === 'ops' ? 'operators' : 'devices', user);
    if (byCert.has(user)) return openClient(`mqtts://127.0.0.1:${broker.port}`, { protocolVersion: 5, ca: c.ca, cert: c.cert, key: c.key, ...extra });
    return openClient(`mqtts://127.0.0.1:${passwordPort}`, { protocolVersion: 4, ca: c.ca, username: user, password: c.password, ...extra });
  };
  proof = {
    connect,
    // MQTT 5's PUBACK says "not authorized" (0x87); a 3.1.1 client is acknowledged and never knows.
    refusedPublish: 135,
    refusedSubscribe: [1],
    refusedConnects: [
      () => credentials(out, 'devices', 'gw-2').then((c) => openClient(`mqtts://127.0.0.1:${passwordPort}`, { protocolVersion: 4, ca: c.ca, username: 'gw-2', password: `${c.password}x` })),
      () => credentials(out, 'devices', 'gw-2').then((c) => openClient(`mqtts://127.0.0.1:${passwordPort}`, { protocolVersion: 4, ca: c.ca })),
      () => credentials(out, 'devices', 'gw-2').then((c) => openClient(`mqtts://127.0.0.1:${broker.port}`, { protocolVersion: 5, ca: c.ca, username: 'gw-2', password: c.password })),
    ],
  };
});

afterAll(async () => {
  await broker?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('ota fleet acl on a real Mosquitto (mutual TLS and passwords)', () => {
  aclProof(() => proof);

  it("the operator's certificate is enough for ota fleet status, the probe that ends its retained burst included", async () => {
    const ops = (f: string) => join(out, 'operators', 'ops', f);
    const r = await ota('fleet', 'status', '--broker', `mqtts://127.0.0.1:${broker.port}`, '--ca', ops('ca.crt'), '--client-cert', ops('client.crt'), '--client-key', ops('client.key'), '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out.join('\n'))).toMatchObject({ burstEnd: 'probe' });
  });
});
