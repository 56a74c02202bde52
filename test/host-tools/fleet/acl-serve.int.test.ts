import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetAcl } from '../../../host-tools/fleet/acl.js';
import { ota } from '../../helpers/cli.js';
import { startOtaServe, type OtaServe } from '../../helpers/ota-serve.js';
import { makeTestPki, type TestPki } from '../../helpers/tls-certs.js';
import { credentials, openClient } from './acl-clients.js';
import { aclProof, FLEET_YAML, type ProofBroker } from './acl-proof.js';

/**
 * The same proof against `ota serve --broker-acl` (its own process, its embedded aedes broker):
 * the users and rules of the folder `ota fleet acl` wrote. As on Mosquitto, gw-1 and the
 * operator connect by certificate (the TLS listener of --mqtts-port, the CN as identity) and
 * gw-2 by password.
 */
let root: string;
let srv: OtaServe;
let proof: ProofBroker;
let stranger: TestPki;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-acl-serve-'));
  await writeFile(join(root, 'fleet.yaml'), FLEET_YAML);
  const out = join(root, 'acl');
  await fleetAcl({ devicesFile: join(root, 'fleet.yaml'), out });
  const published = join(root, 'published');
  await mkdir(join(published, 'repo'), { recursive: true });
  await writeFile(join(published, 'ota-published.json'), JSON.stringify({ format: 'deb-ota-published', formatVersion: 1 }));
  srv = await startOtaServe(published, ['--broker-acl', out, '--mqtts-port', '0']);
  // 127.0.0.1 is in the broker certificate `ota fleet acl` made by default.
  const url = srv.mqttUrl!;
  const tlsUrl = srv.mqttsUrl!;
  // A CA of its own, with a client certificate whose CN is not a user: refused at the handshake.
  stranger = await makeTestPki();
  const fleetCa = (await credentials(out, 'devices', 'gw-1')).ca;
  proof = {
    connect: async (user, extra = {}) => {
      const c = await credentials(out, user === 'ops' ? 'operators' : 'devices', user);
      if (user === 'gw-2') return openClient(url, { protocolVersion: 4, username: user, password: c.password, ...extra });
      return openClient(tlsUrl, { protocolVersion: 4, ca: c.ca, cert: c.cert, key: c.key, ...extra });
    },
    // aedes can only refuse a 3.1.1 publish by hanging up (docs/fleet.md, "Access control").
    refusedPublish: 'closed',
    refusedSubscribe: [128],
    refusedConnects: [
      () => openClient(url, { protocolVersion: 4, username: 'gw-2', password: 'not its password' }),
      () => openClient(url, { protocolVersion: 4 }),
      () => openClient(tlsUrl, { protocolVersion: 4, ca: fleetCa, username: 'gw-2', password: 'any' }),
      async () => openClient(tlsUrl, { protocolVersion: 4, ca: fleetCa, cert: await readFile(stranger.clientCert), key: await readFile(stranger.clientKey) }),
    ],
  };
});

afterAll(async () => {
  await srv?.stop();
  await rm(root, { recursive: true, force: true });
  if (stranger) await rm(stranger.dir, { recursive: true, force: true });
});

describe('ota serve --broker-acl: the embedded broker enforces the same rules', () => {
  aclProof(() => proof);

  it('refuses --mqtts-port without --broker-acl, before listening', async () => {
    const r = await ota('serve', join(root, 'published'), '--http-port', '0', '--mqtts-port', '0');
    expect([r.code, r.err]).toEqual([2, expect.stringMatching(/--mqtts-port needs --broker-acl/)]);
  });

  it('says which folder it enforces, and its TLS listener, in its --json addresses', async () => {
    const stopped = await srv.stop('SIGTERM');
    expect(JSON.parse(stopped.stdout.split('\n')[0]!)).toMatchObject({ brokerAcl: join(root, 'acl'), mqtts: { url: srv.mqttsUrl } });
  });
});
