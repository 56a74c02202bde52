/**
 * The broker's side of bench/fleet: one subscriber to everything under the prefix that counts the
 * messages the broker delivers (each publish under the prefix reaches it once) and keeps every
 * device's last status, so the bench knows from the broker, as an operator would, when every device
 * committed; and Mosquitto's own counters from `$SYS` (sys_interval 1) for comparison.
 */
import { connect, type MqttClient } from 'mqtt';
import { safeParseDocument, type Status } from '../../contract/index.js';

export interface FleetWatch {
  /** Messages under the prefix since the last reset. */
  messages: () => number;
  /** By topic leaf (status, events, online, release, rollout, commands, ...). */
  byLeaf: () => Record<string, number>;
  reset: () => void;
  /** Devices whose last status matches. */
  count: (match: (s: Status) => boolean) => number;
  /** Mosquitto's `$SYS/broker/publish/messages/received` and `sent`, as last published. */
  sys: () => { received: number; sent: number };
  /** Resolves once `count(match)` reaches `n`. */
  until: (n: number, match: (s: Status) => boolean, what: string, timeoutMs: number) => Promise<void>;
  close: () => Promise<void>;
}

export async function watchFleet(url: string, prefix: string): Promise<FleetWatch> {
  const client: MqttClient = connect(url, { clientId: `bench-fleet-watch-${process.pid}`, protocolVersion: 5, reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const statuses = new Map<string, Status>();
  const leaves: Record<string, number> = {};
  let messages = 0;
  const sys = { received: 0, sent: 0 };
  const waiters = new Set<(device: string, s: Status) => void>();
  client.on('message', (topic, payload) => {
    if (topic.startsWith('$SYS/')) {
      const n = Number(payload.toString());
      if (topic.endsWith('/messages/received')) sys.received = n;
      else sys.sent = n;
      return;
    }
    messages++;
    const levels = topic.split('/');
    const leaf = levels.at(-2) === 'probe' ? 'probe' : levels.at(-1)!;
    leaves[leaf] = (leaves[leaf] ?? 0) + 1;
    if (leaf === 'status' && payload.length > 0) {
      const r = safeParseDocument('Status', payload);
      if (r.ok) {
        statuses.set(r.value.device, r.value);
        for (const w of [...waiters]) w(r.value.device, r.value);
      }
    }
  });
  await client.subscribeAsync({ [`${prefix}/#`]: { qos: 1 }, '$SYS/broker/publish/messages/received': { qos: 0 }, '$SYS/broker/publish/messages/sent': { qos: 0 } });
  const count = (match: (s: Status) => boolean) => {
    let n = 0;
    for (const s of statuses.values()) if (match(s)) n++;
    return n;
  };
  return {
    messages: () => messages,
    byLeaf: () => ({ ...leaves }),
    reset: () => {
      messages = 0;
      for (const k of Object.keys(leaves)) delete leaves[k];
    },
    count,
    sys: () => ({ ...sys }),
    until: (n, match, what, timeoutMs) =>
      new Promise((resolve, reject) => {
        // Kept up to date one status at a time: a fleet of 10,000 sends about ten statuses each.
        const matched = new Set([...statuses.values()].filter(match).map((s) => s.device));
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const check = (device: string, s: Status) => {
          if (match(s)) matched.add(device);
          else matched.delete(device);
          if (matched.size >= n) done();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${what}: ${matched.size} of ${n} after ${timeoutMs / 1000} s`));
        }, timeoutMs);
        waiters.add(check);
        if (matched.size >= n) done();
      }),
    close: () => client.endAsync(true),
  };
}
