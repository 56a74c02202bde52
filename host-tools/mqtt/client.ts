import { readFile } from 'node:fs/promises';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { OtaError } from '../../common/errors.js';
import { connectError, refusedProtocolVersion } from './connect-error.js';

/**
 * The host tools' one door to MQTT (docs/conventions.md, "One door per kind"), over mqtt.js:
 * mqtt:// or mqtts://, username and password, a private CA, a client certificate for mutual
 * TLS, and MQTT 5 with a fallback to 3.1.1 when the broker refuses 5 (aedes, older brokers).
 * No reconnecting: a command connects, does its work and ends, and a failure is one OtaError
 * saying which broker and why (`connect-error.ts`).
 *
 * @example
 * const session = await connectBroker({ url: 'mqtt://127.0.0.1:1883' });
 * try { await session.publish('ota/groups/lab/release', jws, { qos: 1, retain: true }); } finally { await session.close(); }
 */
export interface BrokerOptions {
  /** mqtt://host[:port] or mqtts://host[:port]; credentials in the URL are taken too. */
  url: string;
  username?: string;
  password?: string;
  /** PEM file of the CA that signed the broker's certificate (default: the system's CAs). */
  caFile?: string;
  /** PEM files of a client certificate and its key, for brokers that require mutual TLS. */
  certFile?: string;
  keyFile?: string;
  /** Default 10. */
  connectTimeoutSeconds?: number;
  /** 'auto' (default) tries 5, then 3.1.1 when the broker refuses that version. */
  protocol?: 'auto' | '5' | '3.1.1';
  clientId?: string;
}

export interface BrokerSession {
  /** The protocol the broker accepted. */
  protocol: '5' | '3.1.1';
  /** Resolves once the broker acknowledged the message (QoS 1 and 2), or once it is written (QoS 0). */
  publish: (topic: string, payload: string | Buffer, o: { qos: 0 | 1 | 2; retain: boolean }) => Promise<void>;
  subscribe: (topic: string, qos: 0 | 1 | 2) => Promise<void>;
  onMessage: (listener: (topic: string, payload: Buffer, retained: boolean) => void) => void;
  close: () => Promise<void>;
  /** The mqtt.js client, for what this wrapper does not cover yet. */
  client: MqttClient;
}

export async function connectBroker(options: BrokerOptions): Promise<BrokerSession> {
  const { display, base } = await clientOptions(options);
  const timeoutSeconds = options.connectTimeoutSeconds ?? 10;
  const versions: (4 | 5)[] = options.protocol === '5' ? [5] : options.protocol === '3.1.1' ? [4] : [5, 4];
  for (const v of versions) {
    try {
      const client = await connectOnce(options.url, { ...base, protocolVersion: v }, timeoutSeconds);
      return session(client, v === 5 ? '5' : '3.1.1', display);
    } catch (e) {
      if (v === 5 && versions.length > 1 && refusedProtocolVersion(e)) continue;
      throw connectError(e, { url: display, timeoutSeconds });
    }
  }
  throw new Error('connectBroker: no protocol version to try, this is a bug');
}

/** The URL for messages (no credentials) and mqtt.js's options, files read and checked first. */
async function clientOptions(o: BrokerOptions): Promise<{ display: string; base: IClientOptions }> {
  let u: URL;
  try {
    u = new URL(o.url);
  } catch {
    throw new OtaError('ERR_OTA_USAGE', `--broker ${o.url} is not a URL`, { hint: 'write mqtt://HOST:PORT or mqtts://HOST:PORT' });
  }
  if (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:') {
    throw new OtaError('ERR_OTA_USAGE', `--broker ${o.url}: the scheme must be mqtt:// or mqtts://, not ${u.protocol}//`, { hint: 'write mqtt://HOST:PORT or mqtts://HOST:PORT' });
  }
  if ((o.certFile === undefined) !== (o.keyFile === undefined)) {
    throw new OtaError('ERR_OTA_USAGE', 'a client certificate needs both --client-cert and --client-key');
  }
  const display = `${u.protocol}//${u.host}`;
  const base: IClientOptions = {
    reconnectPeriod: 0,
    // Our own timer (connectOnce) says when to give up; mqtt.js's only backs it up.
    connectTimeout: ((o.connectTimeoutSeconds ?? 10) + 5) * 1000,
    clean: true,
    ...(o.clientId !== undefined ? { clientId: o.clientId } : {}),
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...(o.caFile !== undefined ? { ca: await readPem(o.caFile, '--ca') } : {}),
    ...(o.certFile !== undefined ? { cert: await readPem(o.certFile, '--client-cert') } : {}),
    ...(o.keyFile !== undefined ? { key: await readPem(o.keyFile, '--client-key') } : {}),
  };
  return { display, base };
}

async function readPem(path: string, option: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new OtaError('ERR_OTA_USAGE', `${option} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { hint: 'give a PEM file', cause: e });
  }
}

/** One attempt: the CONNACK, or the error, or 'timeout'; the client is ended on failure. */
function connectOnce(url: string, opts: IClientOptions, timeoutSeconds: number): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = connect(url, opts);
    let lastError: unknown;
    const finish = (e: unknown) => {
      clearTimeout(timer);
      client.removeAllListeners('connect');
      client.end(true);
      reject(e);
    };
    const timer = setTimeout(() => finish(lastError ?? 'timeout'), timeoutSeconds * 1000);
    client.on('error', (e) => {
      lastError = e;
      // A refusal in the CONNACK is final; a socket error is followed by 'close'.
      if (typeof (e as { code?: unknown }).code === 'number') finish(e);
    });
    client.on('close', () => finish(lastError ?? new Error('the broker closed the connection before accepting it')));
    client.once('connect', () => {
      clearTimeout(timer);
      client.removeAllListeners('close');
      client.removeAllListeners('error');
      client.on('error', () => {}); // after the handshake, failures surface through the calls that hit them
      resolve(client);
    });
  });
}

function session(client: MqttClient, protocol: '5' | '3.1.1', display: string): BrokerSession {
  return {
    protocol,
    client,
    publish: async (topic, payload, o) => {
      try {
        await client.publishAsync(topic, payload, { qos: o.qos, retain: o.retain });
      } catch (e) {
        throw new OtaError('ERR_OTA_MQTT', `publishing on ${topic} at ${display}: ${(e as Error).message}`, { hint: 'the broker refused the message: check its ACL for this user and topic', cause: e });
      }
    },
    subscribe: async (topic, qos) => {
      const granted = await client.subscribeAsync(topic, { qos });
      if (granted.some((g) => g.qos === 128)) throw new OtaError('ERR_OTA_MQTT', `subscribing to ${topic} at ${display}: refused by the broker`, { hint: 'check the broker\'s ACL for this user and topic' });
    },
    onMessage: (listener) => {
      client.on('message', (topic, payload, packet) => listener(topic, payload, packet.retain));
    },
    close: () => closeClient(client),
  };
}

/**
 * Ends the session: a clean DISCONNECT when the broker is still there, else (or when it does not
 * finish within 2 s) a forced end; mqtt.js's own end never calls back once the broker is gone.
 */
function closeClient(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    const force = () => {
      client.end(true);
      resolve();
    };
    if (!client.connected) {
      force();
      return;
    }
    const timer = setTimeout(force, 2_000);
    client.end(false, {}, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
