import { request } from 'node:http';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { ota } from '../../helpers/cli.js';
import { startOtaServe } from '../../helpers/ota-serve.js';
import { subscribeOnce } from '../../helpers/mosquitto.js';
import { connectBroker, type BrokerSession } from '../../../host-tools/mqtt/client.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-serve-cli-'));
  await writeFile(join(dir, 'ota-published.json'), JSON.stringify({ format: 'deb-ota-published', formatVersion: 1 }));
  await mkdir(join(dir, 'repo'));
  await writeFile(join(dir, 'repo', 'summary'), 'summary bytes');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A GET over a keep-alive connection that stays open after the answer. */
function keepAliveGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/repo/summary`, { headers: { Connection: 'keep-alive' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes bytes to the port, waits for the server to answer or close, then hangs up. */
function sendAndHangUp(url: string, bytes: Buffer): Promise<void> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(u.port), u.hostname, () => s.end(bytes));
    s.on('data', () => {});
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

describe('ota serve (its own process)', () => {
  it('prints its addresses as one JSON line, runs a broker mosquitto clients use, and exits 0 on SIGTERM with a keep-alive connection and an MQTT client open', async () => {
    const srv = await startOtaServe(dir);
    let session: BrokerSession | undefined;
    try {
      expect(srv.httpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(srv.mqttUrl).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
      expect(await keepAliveGet(srv.httpUrl)).toBe(200);
      const port = new URL(srv.mqttUrl!).port;
      await run('mosquitto_pub', ['mosquitto_pub', '-h', '127.0.0.1', '-p', port, '-V', 'mqttv311', '-t', 'ota/test', '-m', 'kept', '-r', '-q', '1']);
      expect(await subscribeOnce(srv.mqttUrl!, 'ota/test', { args: ['-V', 'mqttv311'] })).toEqual(['kept']);
      session = await connectBroker({ url: srv.mqttUrl! });
      await session.subscribe('ota/#', 1);
    } finally {
      const r = await srv.stop('SIGTERM');
      await session?.close();
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/stopped by SIGTERM after 1 HTTP request/);
    }
  });

  it('keeps serving after garbage on both ports (bad input from the network changes nothing)', async () => {
    const srv = await startOtaServe(dir);
    try {
      const junk = [randomBytes(4096), Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]), Buffer.from('GET / HTTP/1.1\r\n\r\n')];
      for (const b of junk) await sendAndHangUp(srv.mqttUrl!, b);
      await sendAndHangUp(srv.httpUrl, randomBytes(2000));
      const session = await connectBroker({ url: srv.mqttUrl! });
      await session.close();
      expect(await keepAliveGet(srv.httpUrl)).toBe(200);
    } finally {
      expect((await srv.stop()).code).toBe(0);
    }
  });

  it('stops on SIGINT too, and serves HTTP alone with --no-mqtt', async () => {
    const srv = await startOtaServe(dir, ['--no-mqtt']);
    expect(srv.mqttUrl).toBeNull();
    expect((await srv.stop('SIGINT')).code).toBe(0);
  });

  it('refuses a directory that is not a published one, and a bad port, as bad input', async () => {
    const r = await ota('serve', join(dir, 'repo'), '--http-port', '0', '--no-mqtt');
    expect(r.code).toBe(2);
    expect(r.err).toContain('ota-published.json');
    const p = await ota('serve', dir, '--http-port', '70000');
    expect(p.code).toBe(2);
    expect(p.err).toContain('--http-port');
  });
});
