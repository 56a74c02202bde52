import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttConfig } from '../../../device-agent/config/schema.js';
import { createServer, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { freePort, startMosquitto } from '../../helpers/mosquitto.js';
import { makeTestPki } from '../../helpers/tls-certs.js';
import { DEVICE, jobs, jwsShaped, Observer, relayRoot, startRelay, until, type RelayProcess, type RelayRoot } from './relay-harness.js';

// The relay is the real process and the brokers are real; only the worker is a stand-in (at the process boundary).
let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
  cleanup = [];
});

async function root(mqtt: Partial<MqttConfig> & { url: string }): Promise<RelayRoot> {
  const r = await relayRoot(mqtt);
  cleanup.push(() => r.remove());
  return r;
}

async function relay(r: RelayRoot): Promise<RelayProcess> {
  const p = await startRelay(r);
  cleanup.push(async () => {
    p.kill('SIGKILL');
    await p.exited;
  });
  return p;
}

async function observe(url: string, options: Parameters<typeof Observer.connect>[1] = {}): Promise<Observer> {
  const o = await Observer.connect(url, options);
  cleanup.push(() => o.close());
  return o;
}

const ran = async (r: RelayRoot, job: string) => (await jobs(r)).filter((j) => j.job === job && j.terminated !== true).length;

describe('the relay and its brokers (a stand-in worker)', () => {
  it("falls back to MQTT 3.1.1 against aedes, the broker ota serve embeds", async () => {
    const port = await startAedes();
    const url = `mqtt://127.0.0.1:${port}`;
    const observer = await observe(url);
    const r = await root({ url });
    const p = await relay(r);
    await until('presence online', () => observer.presence().includes(true));
    await until('a report', async () => (await ran(r, 'report')) === 1);
    expect(p.journal()).toContain('over MQTT 3.1.1');
  });

  it('reconnects after the broker restarts, with its persistent session: a command sent while it was away arrives', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-mosquitto-data-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    let broker = await startMosquitto({ port, persistenceDir: dir });
    cleanup.push(() => broker.stop());
    const r = await root({ url: broker.url });
    const p = await relay(r);
    let observer = await observe(broker.url);
    await until('presence online', () => observer.presence().includes(true));
    await until('the first report', async () => (await ran(r, 'report')) === 1);
    const first = observer.docs('online').at(-1)!.connectedAt;

    await observer.close();
    await broker.stop();
    await until('the relay saw the broker go', () => /MQTT broker .*trying again in/.test(p.journal()));
    broker = await startMosquitto({ port, persistenceDir: dir });
    observer = await observe(broker.url);
    // The observer's retained view: online again, from a new connection, and a second report after it.
    await until('presence online from a new connection', () => observer.docs('online').some((d) => d.online === true && d.connectedAt !== first));
    await until('a report after the reconnect', async () => (await ran(r, 'report')) === 2);
    const journal = p.journal();
    expect(journal.indexOf('trying again in')).toBeLessThan(journal.lastIndexOf('connected to'));
    expect(journal).toContain('session kept');

    // Killed: the broker keeps its session, and the command published meanwhile (QoS 1) waits for it.
    p.kill('SIGKILL');
    await p.exited;
    await until('presence offline by the will', () => observer.presence().at(-1) === false);
    await observer.send(`ota/devices/${DEVICE}/commands`, jwsShaped('command'));
    await relay(r);
    await until('the command worker ran', async () => (await ran(r, 'command')) === 1);
  });

  it('connects over TLS with a private CA and a client certificate', async () => {
    const pki = await makeTestPki();
    cleanup.push(() => rm(pki.dir, { recursive: true, force: true }));
    const broker = await startMosquitto({ tls: { certFile: pki.serverCert, keyFile: pki.serverKey, clientCa: pki.caCert } });
    cleanup.push(() => broker.stop());
    const observer = await observe(broker.url, { ca: await readText(pki.caCert), cert: await readText(pki.clientCert), key: await readText(pki.clientKey) });
    const r = await root({ url: broker.url, caFile: pki.caCert, certFile: pki.clientCert, keyFile: pki.clientKey });
    await relay(r);
    await until('presence online over TLS', () => observer.presence().includes(true));
  });

  it('logs in with a username and the password from its file, and says why when the password is wrong', async () => {
    const broker = await startMosquitto({ users: { 'gw-1': 'right horse', observer: 'o' } });
    cleanup.push(() => broker.stop());
    const observer = await observe(broker.url, { username: 'observer', password: 'o' });
    const wrong = await root({ url: broker.url, username: 'gw-1' });
    await writeFile(join(wrong.root, 'password'), 'wrong\n');
    await rewriteMqtt(wrong, { passwordFile: join(wrong.root, 'password') });
    const refused = await relay(wrong);
    await until('the refusal in the journal', () => refused.journal().includes('not authorized'));
    expect(observer.presence()).toEqual([]);
    refused.kill('SIGKILL');
    await refused.exited;

    const right = await root({ url: broker.url, username: 'gw-1' });
    await writeFile(join(right.root, 'password'), 'right horse\n');
    await rewriteMqtt(right, { passwordFile: join(right.root, 'password') });
    await relay(right);
    await until('presence online', () => observer.presence().includes(true));
  });

  it('refuses bad payloads with an event and its reason, and starts no worker for them', async () => {
    const broker = await startMosquitto();
    cleanup.push(() => broker.stop());
    const observer = await observe(broker.url);
    const r = await root({ url: broker.url, maxPayloadBytes: 1024 });
    await relay(r);
    await until('the report', async () => (await ran(r, 'report')) === 1);
    const release = 'ota/groups/lab/release';
    const commands = `ota/devices/${DEVICE}/commands`;
    const bad: [string, string | Buffer, string][] = [
      [release, '{"version":"9.9"}', 'malformed: not a compact JWS'],
      [release, Buffer.from([0x65, 0x79, 0xff, 0x2e]), 'malformed: not UTF-8'],
      [release, jwsShaped('release', { body: 'x'.repeat(2000) }), 'too-large'],
      [release, jwsShaped('release', { alg: 'none' }), 'alg'],
      [release, jwsShaped('command'), 'typ'],
      [commands, jwsShaped('command', { kid: 'stranger' }), 'kid: kid "stranger" is not a trusted key'],
      [commands, Buffer.from('e30.e30'), 'malformed'],
    ];
    for (const [topic, payload] of bad) await observer.send(topic, payload);
    await until('an event for each', () => observer.docs('events').length >= bad.length);
    const events = observer.docs('events');
    expect(events.map((e) => e.type)).toEqual([...Array(5).fill('refused'), 'command-refused', 'command-refused']);
    bad.forEach(([, , reason], i) => expect(events[i]!.reason).toContain(reason));
    expect(await ran(r, 'release')).toBe(0);
    expect(await ran(r, 'command')).toBe(0);
    // The same relay does start a worker for a well-shaped message: the zero above is not for lack of a pipe.
    await observer.send(commands, jwsShaped('command'));
    await until('the command worker', async () => (await ran(r, 'command')) === 1);
  });
});

/** aedes on a free port, as host-tools/serve/broker.ts runs it (device-agent/ tests do not import host-tools/). */
async function startAedes(): Promise<number> {
  const aedes = await Aedes.createBroker();
  const server = createServer(aedes.handle);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => sockets.add(s));
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  cleanup.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
  });
  return port;
}

async function readText(path: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(path, 'utf8');
}

/** Changes keys of the stand-in's mqtt block (a path known only once the root exists). */
async function rewriteMqtt(r: RelayRoot, mqtt: Partial<MqttConfig>): Promise<void> {
  const file = join(r.root, 'stand-in/config.json');
  const doc = JSON.parse(await readText(file)) as { config: { mqtt: MqttConfig } };
  doc.config.mqtt = { ...doc.config.mqtt, ...mqtt };
  await writeFile(file, JSON.stringify(doc));
}
