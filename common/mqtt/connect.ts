import { createConnection, isIP } from 'node:net';
import { MqttClient, type IClientOptions, type IStream } from 'mqtt';

/**
 * One connection attempt over mqtt.js: the client once the broker accepted it (CONNACK), or the
 * error (or 'timeout'); the client is ended on failure. `setup` runs on the new client before
 * anything arrives, so a persistent session's queued messages find their listener.
 *
 * @example
 * const client = await connectOnce(url, { ...base, protocolVersion: 5 }, { timeoutSeconds: 10 });
 */
export async function connectOnce(url: string, opts: IClientOptions, o: { timeoutSeconds: number; setup?: (client: MqttClient) => void }): Promise<MqttClient> {
  const client = await leanClient(url, opts);
  return new Promise((resolve, reject) => {
    o.setup?.(client);
    let lastError: unknown;
    const finish = (e: unknown) => {
      clearTimeout(timer);
      client.removeAllListeners('connect');
      client.end(true);
      reject(e);
    };
    const timer = setTimeout(() => finish(lastError ?? 'timeout'), o.timeoutSeconds * 1000);
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

/**
 * An mqtt.js client over TCP or TLS only. mqtt.js's `connect()` loads its WebSocket transport (and
 * TLS) on every connection whatever the URL says: 2 to 5 MB of a long-lived relay's RSS. The
 * stream is made here the way its TCP and TLS builders make it, and TLS is loaded only for mqtts://.
 */
async function leanClient(url: string, opts: IClientOptions): Promise<MqttClient> {
  const u = new URL(url);
  const secure = u.protocol === 'mqtts:';
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port === '' ? (secure ? 8883 : 1883) : Number(u.port);
  const options: IClientOptions = {
    ...opts,
    protocol: secure ? 'mqtts' : 'mqtt',
    hostname: host,
    port,
    ...(opts.username === undefined && u.username !== '' ? { username: decodeURIComponent(u.username) } : {}),
    ...(opts.password === undefined && u.password !== '' ? { password: decodeURIComponent(u.password) } : {}),
  };
  if (!secure) return new MqttClient(() => createConnection({ host, port }) as unknown as IStream, options);
  const tls = await import('node:tls');
  const tlsOptions = {
    host,
    port,
    ...(isIP(host) === 0 ? { servername: host } : {}),
    rejectUnauthorized: true,
    ...(opts.ca !== undefined ? { ca: opts.ca as Buffer } : {}),
    ...(opts.cert !== undefined ? { cert: opts.cert as Buffer } : {}),
    ...(opts.key !== undefined ? { key: opts.key as Buffer } : {}),
  };
  return new MqttClient(() => tls.connect(tlsOptions) as unknown as IStream, options);
}

/**
 * Ends a client: a clean DISCONNECT when the broker is still there, else (or when it does not
 * finish within 2 s) a forced end; mqtt.js's own end never calls back once the broker is gone.
 */
export function closeClient(client: MqttClient): Promise<void> {
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
