/**
 * What an operator's dashboard sees of a device: an mqtt.js client of its own on the broker,
 * subscribed to everything under `<prefix>/devices/<id>/` (status, presence, inventory, events,
 * telemetry), recording each message parsed with the contract's schemas. Tests wait on what
 * arrives (`waitFor`), never on time; a wait that fails names what did arrive.
 *
 * The observer keeps a persistent session (a fixed client id, `clean: false`, QoS 1), so a broker
 * stopped and started again with its persistence folder queues the events the device sent while
 * the observer was reconnecting.
 *
 * @example
 * const obs = await observe(broker.url, 'gw-0001');
 * await obs.waitFor('status', (s) => s.phase === 'committed', 'committed');
 */
import { connect, type MqttClient } from 'mqtt';
import { parseDocument, topics, type DeviceEvent, type Inventory, type Presence, type Status, type Telemetry } from '../../../contract/index.js';

export interface Seen {
  status: Status;
  event: DeviceEvent;
  presence: Presence;
  inventory: Inventory;
  telemetry: Telemetry;
}
export type Channel = keyof Seen;

const KIND: Record<Channel, 'Status' | 'Event' | 'Presence' | 'Inventory' | 'Telemetry'> = {
  status: 'Status',
  event: 'Event',
  presence: 'Presence',
  inventory: 'Inventory',
  telemetry: 'Telemetry',
};

export interface Observer {
  /** Every message so far, in order of arrival, per channel (retained copies included). */
  seen: { [C in Channel]: Seen[C][] };
  /** Payloads under the device's topics that did not follow their schema: a test asserts none. */
  invalid: { topic: string; problem: string }[];
  /** Resolves with the first message of `channel` (from the index `from` on) that `predicate` accepts. */
  waitFor<C extends Channel>(channel: C, predicate: (m: Seen[C]) => boolean, what: string, from?: number): Promise<Seen[C]>;
  /** Events of the given types so far. */
  events(...types: DeviceEvent['type'][]): DeviceEvent[];
  close(): Promise<void>;
}

/** Long enough for an update on a slow CI machine; only a failing test ever waits this long. */
const GIVE_UP_MS = 240_000;

export async function observe(url: string, device: string, options: { prefix?: string; clientId?: string; giveUpMs?: number } = {}): Promise<Observer> {
  const t = topics(options.prefix);
  const channelOf = new Map<string, Channel>([
    [t.deviceStatus(device), 'status'],
    [t.deviceEvents(device), 'event'],
    [t.deviceOnline(device), 'presence'],
    [t.deviceInventory(device), 'inventory'],
    [t.deviceTelemetry(device), 'telemetry'],
  ]);
  const seen: Observer['seen'] = { status: [], event: [], presence: [], inventory: [], telemetry: [] };
  const invalid: Observer['invalid'] = [];
  const waiters = new Set<() => void>();
  // Waits still pending when the observer closes end there, unsettled (a test that failed left them).
  const cancels = new Set<() => void>();
  const client = await connected(url, options.clientId ?? `observer-${device}-${process.pid}`);
  client.on('message', (topic, payload) => {
    const channel = channelOf.get(topic);
    if (channel === undefined) return;
    try {
      (seen[channel] as unknown[]).push(parseDocument(KIND[channel], payload.toString('utf8')));
    } catch (e) {
      invalid.push({ topic, problem: e instanceof Error ? e.message : String(e) });
    }
    for (const w of [...waiters]) w();
  });
  await client.subscribeAsync(Object.fromEntries([...channelOf.keys()].map((topic) => [topic, { qos: 1 as const }])));

  const waitFor: Observer['waitFor'] = (channel, predicate, what, from = 0) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = seen[channel].slice(from).find((m) => predicate(m as never));
        if (hit === undefined) return false;
        done();
        resolve(hit as never);
        return true;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`waited for ${what} on ${channel}; seen:\n${summary(seen)}`));
      }, options.giveUpMs ?? GIVE_UP_MS);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
        cancels.delete(done);
      };
      cancels.add(done);
      waiters.add(check);
      check();
    });

  return {
    seen,
    invalid,
    waitFor,
    events: (...types) => seen.event.filter((e) => types.includes(e.type)),
    close: async () => {
      for (const cancel of [...cancels]) cancel();
      await client.endAsync(true);
    },
  };
}

/** Connected, with a session the broker keeps; mqtt.js reconnects by itself when the broker comes back. */
async function connected(url: string, clientId: string): Promise<MqttClient> {
  const client = connect(url, { clientId, clean: false, reconnectPeriod: 200, protocolVersion: 4 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

/** One line per message: what a failing wait prints. */
export function summary(seen: Observer['seen']): string {
  const lines = [
    ...seen.status.map((s) => `status ${s.phase} ${s.updateId ?? '-'} ${s.progress ? `${s.progress.doneBytes}/${s.progress.totalBytes}` : ''}`),
    ...seen.event.map((e) => `event ${e.type} ${e.updateId ?? '-'} ${e.reason ?? ''}`),
    ...seen.presence.map((p) => `presence ${p.online ? 'online' : 'offline'}`),
    ...seen.inventory.map((i) => `inventory ${i.commit} ${i.packages.length} packages`),
  ];
  return lines.join('\n');
}
