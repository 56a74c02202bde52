import { createServer, type Server } from 'node:net';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { connectBroker, type BrokerOptions } from '../../../host-tools/mqtt/client.js';
import { startBroker } from '../../../host-tools/serve/broker.js';
import { freePort, startMosquitto, subscribeOnce, type Mosquitto } from '../../helpers/mosquitto.js';
import { makeTestPki, type TestPki } from '../../helpers/tls-certs.js';

async function failure(o: BrokerOptions): Promise<OtaError> {
  const e = await connectBroker(o).then(
    async (s) => {
      await s.close();
      return undefined;
    },
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(OtaError);
  return e as OtaError;
}

describe('connectBroker against real brokers', () => {
  let plain: Mosquitto;
  let pki: TestPki;
  beforeAll(async () => {
    plain = await startMosquitto();
    pki = await makeTestPki();
  });
  afterAll(async () => {
    await plain?.stop();
    if (pki) await rm(pki.dir, { recursive: true, force: true });
  });

  it('speaks MQTT 5 to mosquitto and publishes a retained message another client receives', async () => {
    const s = await connectBroker({ url: plain.url });
    try {
      expect(s.protocol).toBe('5');
      await s.publish('t/five', 'payload', { qos: 1, retain: true });
    } finally {
      await s.close();
    }
    expect(await subscribeOnce(plain.url, 't/five')).toEqual(['payload']);
  });

  it('subscribes and hands over messages, retained ones marked so (what the fleet reads status with)', async () => {
    const pub = await connectBroker({ url: plain.url });
    await pub.publish('t/sub/a', 'retained', { qos: 1, retain: true });
    const sub = await connectBroker({ url: plain.url, protocol: '3.1.1' });
    try {
      expect(sub.protocol).toBe('3.1.1');
      const got: [string, string, boolean][] = [];
      const two = new Promise<void>((resolve) => {
        sub.onMessage((topic, payload, retained) => {
          got.push([topic, payload.toString(), retained]);
          if (got.length === 2) resolve();
        });
      });
      await sub.subscribe('t/sub/#', 1);
      await pub.publish('t/sub/b', 'live', { qos: 1, retain: false });
      await two;
      expect(got).toEqual([['t/sub/a', 'retained', true], ['t/sub/b', 'live', false]]);
    } finally {
      await sub.close();
      await pub.close();
    }
  });

  it('falls back to 3.1.1 when the broker refuses 5 (the embedded aedes broker)', async () => {
    const b = await startBroker();
    await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', () => r()));
    try {
      const s = await connectBroker({ url: `mqtt://127.0.0.1:${(b.server.address() as { port: number }).port}` });
      expect(s.protocol).toBe('3.1.1');
      await s.publish('t/x', 'y', { qos: 1, retain: true });
      await s.close();
    } finally {
      await b.close();
    }
  });

  it('says "not authorized" for a wrong password and connects with the right one', async () => {
    const b = await startMosquitto({ users: { fleet: 'right' } });
    try {
      const e = await failure({ url: b.url, username: 'fleet', password: 'wrong' });
      expect(e.code).toBe('ERR_OTA_MQTT');
      // Mosquitto answers a wrong password with "not authorized" (MQTT 5 reason 135), not 134.
      expect(e.message).toMatch(/the broker refused: not authorized/);
      expect(e.hint).toMatch(/--password/);
      expect(e.message).not.toContain('wrong');
      expect((await failure({ url: b.url })).message).toMatch(/not authorized/);
      const s = await connectBroker({ url: b.url, username: 'fleet', password: 'right' });
      await s.close();
    } finally {
      await b.stop();
    }
  });

  it('says "connection refused" when nothing listens, and gives up on a silent peer after the timeout', async () => {
    const port = await freePort();
    const refused = await failure({ url: `mqtt://127.0.0.1:${port}` });
    expect(refused.message).toMatch(/cannot connect to the MQTT broker mqtt:\/\/127\.0\.0\.1:\d+: connection refused/);
    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const e = await failure({ url: `mqtt://127.0.0.1:${(silent.address() as { port: number }).port}`, connectTimeoutSeconds: 1 });
      expect(e.message).toMatch(/no answer within 1 s/);
    } finally {
      silent.close();
    }
  });

  it('refuses other schemes and half a client certificate before connecting', async () => {
    expect((await failure({ url: 'http://127.0.0.1:1883' })).code).toBe('ERR_OTA_USAGE');
    expect((await failure({ url: plain.url, certFile: pki.clientCert })).code).toBe('ERR_OTA_USAGE');
  });

  it('connects over TLS with the broker\'s CA, and names a certificate that does not verify', async () => {
    const b = await startMosquitto({ tls: { certFile: pki.serverCert, keyFile: pki.serverKey } });
    try {
      const s = await connectBroker({ url: b.url, caFile: pki.caCert });
      await s.close();
      expect((await failure({ url: b.url })).message).toMatch(/TLS certificate does not verify/);
    } finally {
      await b.stop();
    }
  });

  it('connects with a client certificate where mutual TLS is required, and is refused without one', async () => {
    const b = await startMosquitto({ tls: { certFile: pki.serverCert, keyFile: pki.serverKey, clientCa: pki.caCert } });
    try {
      const s = await connectBroker({ url: b.url, caFile: pki.caCert, certFile: pki.clientCert, keyFile: pki.clientKey });
      await s.publish('t/mtls', 'ok', { qos: 1, retain: false });
      await s.close();
      const e = await failure({ url: b.url, caFile: pki.caCert });
      expect(e.code).toBe('ERR_OTA_MQTT');
      expect(e.hint).toMatch(/--client-cert/);
    } finally {
      await b.stop();
    }
  });
});
