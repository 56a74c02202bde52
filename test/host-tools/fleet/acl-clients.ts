import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';

/**
 * Real mqtt.js clients for the ACL proofs, each keeping every message it receives, and the
 * helpers of the one set of checks run against Mosquitto and against `ota serve`'s broker
 * (docs/fleet.md, "Access control"). Only the way each user connects differs between the two.
 */
export interface AclClient {
  client: MqttClient;
  received: { topic: string; payload: string }[];
  /** Resolves with the first message (received so far or later) the predicate accepts. */
  next: (topic: string, payload: string) => Promise<void>;
  /** Resolves once the broker closed the connection (at once if it is closed already). */
  closed: Promise<void>;
}

export async function openClient(url: string, options: IClientOptions): Promise<AclClient> {
  // No retries: a connection closed before its CONNACK (a TLS alert for a refused certificate) rejects.
  const client = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...options }, false);
  const received: AclClient['received'] = [];
  const waiters: { topic: string; payload: string; resolve: () => void }[] = [];
  client.on('message', (topic, payload) => {
    const m = { topic, payload: payload.toString() };
    received.push(m);
    for (const w of waiters.filter((w) => w.topic === m.topic && w.payload === m.payload)) w.resolve();
  });
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  return {
    client,
    received,
    closed,
    next: (topic, payload) =>
      received.some((m) => m.topic === topic && m.payload === payload) ? Promise.resolve() : new Promise((resolve) => waiters.push({ topic, payload, resolve })),
  };
}

/** A user's folder in an `ota fleet acl` output: its password, and TLS files for mutual TLS. */
export async function credentials(dir: string, role: 'devices' | 'operators', id: string): Promise<{ password: string; cert: Buffer; key: Buffer; ca: Buffer }> {
  const f = (n: string) => readFile(join(dir, role, id, n));
  return { password: (await f('password')).toString().trim(), cert: await f('client.crt'), key: await f('client.key'), ca: await f('ca.crt') };
}

/**
 * A publish the broker must not pass on: resolves with how the publisher learnt it, an MQTT 5
 * reason code, `acked` (MQTT 3.1.1 has no way to say no), or `closed` (the broker hung up).
 */
export async function forbiddenPublish(c: AclClient, topic: string, payload: string, retain = false): Promise<number | 'acked' | 'closed'> {
  const acked = c.client.publishAsync(topic, payload, { qos: 1, retain }).then(
    () => 'acked' as const,
    (e: { code?: number }) => (typeof e.code === 'number' ? e.code : ('closed' as const)),
  );
  return Promise.race([acked, c.closed.then(() => 'closed' as const)]);
}

/** The QoS each filter was granted, or the failure code (128 in 3.1.1, 135 "not authorized" in MQTT 5). */
export async function grantedQos(c: AclClient, filter: string): Promise<number> {
  try {
    const granted = await c.client.subscribeAsync(filter, { qos: 1 });
    return granted[0]!.qos;
  } catch (e) {
    // mqtt.js rejects a SUBACK that refuses, with the packet it got.
    const code = (e as { packet?: { granted?: unknown[] } }).packet?.granted?.[0];
    if (typeof code === 'number') return code;
    throw e;
  }
}

export async function endAll(clients: AclClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.client.endAsync(true).catch(() => {})));
}
