import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetAcl } from '../../../host-tools/fleet/acl.js';
import { startOtaServe, type OtaServe } from '../../helpers/ota-serve.js';
import { credentials, openClient } from './acl-clients.js';
import { aclProof, FLEET_YAML, type ProofBroker } from './acl-proof.js';

/**
 * The same proof against `ota serve --broker-acl` (its own process, its embedded aedes broker):
 * the users and rules of the folder `ota fleet acl` wrote, every client with its password.
 */
let root: string;
let srv: OtaServe;
let proof: ProofBroker;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-acl-serve-'));
  await writeFile(join(root, 'fleet.yaml'), FLEET_YAML);
  const out = join(root, 'acl');
  await fleetAcl({ devicesFile: join(root, 'fleet.yaml'), out });
  const published = join(root, 'published');
  await mkdir(join(published, 'repo'), { recursive: true });
  await writeFile(join(published, 'ota-published.json'), JSON.stringify({ format: 'deb-ota-published', formatVersion: 1 }));
  srv = await startOtaServe(published, ['--broker-acl', out]);
  const url = srv.mqttUrl!;
  proof = {
    connect: async (user) => openClient(url, { protocolVersion: 4, username: user, password: (await credentials(out, user === 'ops' ? 'operators' : 'devices', user)).password }),
    // aedes can only refuse a 3.1.1 publish by hanging up (docs/fleet.md, "Access control").
    refusedPublish: 'closed',
    refusedSubscribe: [128],
    refusedConnects: [() => openClient(url, { protocolVersion: 4, username: 'gw-2', password: 'not its password' }), () => openClient(url, { protocolVersion: 4 })],
  };
});

afterAll(async () => {
  await srv?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('ota serve --broker-acl: the embedded broker enforces the same rules', () => {
  aclProof(() => proof);

  it('says which folder it enforces in its --json addresses', async () => {
    const stopped = await srv.stop('SIGTERM');
    expect(JSON.parse(stopped.stdout.split('\n')[0]!)).toMatchObject({ brokerAcl: join(root, 'acl') });
  });
});
