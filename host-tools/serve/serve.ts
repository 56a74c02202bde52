import type { Server } from 'node:http';
import type { Server as NetServer, AddressInfo } from 'node:net';
import { OtaError } from '../../common/errors.js';
import type { EventSink } from '../../common/events.js';
import { loadBrokerAcl, type BrokerAcl } from '../fleet/acl-load.js';
import { startBroker, type EmbeddedBroker } from './broker.js';
import { requirePublished } from '../publish/published-dir.js';
import { createStaticServer } from './static-server.js';

/**
 * `ota serve`: one process that serves a PUBLISHED directory over HTTP and runs an MQTT broker
 * beside it (docs/releases.md, "Serving"). Loopback unless a bind address is given; port 0
 * takes a free port, and the addresses actually bound are returned.
 *
 * @example
 * const s = await serve({ dir: '/srv/ota', httpPort: 0, mqttPort: 0 });
 * s.http.url; // 'http://127.0.0.1:41234'
 * await s.close();
 */
export interface ServeOptions {
  dir: string;
  httpPort?: number;
  mqttPort?: number;
  /** Default 127.0.0.1. */
  bind?: string;
  /** Run the embedded broker (default true). */
  mqtt?: boolean;
  /**
   * An `ota fleet acl` folder: the broker then takes only its users and enforces its rules
   * (docs/fleet.md, "Access control"). Absent: anyone who reaches the port may do anything.
   */
  brokerAcl?: string;
  /** With `brokerAcl`: also listen for MQTT over TLS here, clients identified by their certificate. */
  mqttsPort?: number;
  onEvent?: EventSink;
}

export interface Listening {
  address: string;
  port: number;
  url: string;
}

export interface Serving {
  root: string;
  http: Listening;
  mqtt: Listening | null;
  /** The TLS listener of the broker (`mqtts://`), or null. */
  mqtts: Listening | null;
  /** The ACL folder the broker enforces, or null when it takes anyone. */
  brokerAcl: string | null;
  /** Stops both: no new connections, open ones (keep-alive too) closed, within about `graceMs` (default 2 s). */
  close: (graceMs?: number) => Promise<void>;
}

export async function serve(options: ServeOptions): Promise<Serving> {
  const root = await requirePublished(options.dir);
  // Read before anything listens: a bad folder refuses to start rather than serve without rules.
  if (options.mqttsPort !== undefined && (options.brokerAcl === undefined || options.mqtt === false)) {
    throw new OtaError('ERR_OTA_USAGE', '--mqtts-port needs --broker-acl: the TLS listener takes its certificates and users from that folder', { hint: 'add --broker-acl DIR (a folder `ota fleet acl` wrote), or drop --mqtts-port' });
  }
  const acl: BrokerAcl | undefined = options.brokerAcl !== undefined && (options.mqtt ?? true) ? await loadBrokerAcl(options.brokerAcl) : undefined;
  const bind = options.bind ?? '127.0.0.1';
  const server = createStaticServer({ root, onEvent: options.onEvent });
  const http = await listen(server, { port: options.httpPort ?? 8080, bind, scheme: 'http', what: '--http-port' });
  let broker: EmbeddedBroker | undefined;
  let mqtt: Listening | null = null;
  let mqtts: Listening | null = null;
  if (options.mqtt ?? true) {
    try {
      broker = await startBroker({ acl });
      mqtt = await listen(broker.server, { port: options.mqttPort ?? 1883, bind, scheme: 'mqtt', what: '--mqtt-port' });
      if (broker.tlsServer && options.mqttsPort !== undefined) mqtts = await listen(broker.tlsServer, { port: options.mqttsPort, bind, scheme: 'mqtts', what: '--mqtts-port' });
    } catch (e) {
      await closeHttp(server, 0);
      await broker?.close();
      throw e;
    }
  }
  const close = async (graceMs = 2_000) => {
    await Promise.all([closeHttp(server, graceMs), broker?.close()]);
  };
  return { root, http, mqtt, mqtts, brokerAcl: acl?.dir ?? null, close };
}

async function listen(server: Server | NetServer, o: { port: number; bind: string; scheme: string; what: string }): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EACCES' ? 'permission denied (ports below 1024 need root)' : e.code === 'EADDRNOTAVAIL' ? 'no interface has that address' : e.message;
      reject(new OtaError('ERR_OTA_USAGE', `cannot listen on ${o.bind}:${o.port} (${o.scheme}): ${why}`, { hint: `choose another ${o.what} (0 picks a free port) or --bind address`, cause: e }));
    };
    server.once('error', onError);
    server.listen(o.port, o.bind, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return { address: a.address, port: a.port, url: `${o.scheme}://${host}:${a.port}` };
}

/** Stops accepting, closes idle keep-alive connections at once, and cuts the rest after the grace period. */
async function closeHttp(server: Server, graceMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  try {
    await closed;
  } finally {
    clearTimeout(timer);
  }
}
