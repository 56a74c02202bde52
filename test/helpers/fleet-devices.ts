/**
 * Simulated devices for `ota fleet` tests: documents built through the contract's own schemas
 * (parseDocument refuses anything a real agent could not send), published retained on a real
 * broker the way an agent publishes them; and raw payloads for the hostile cases (malformed,
 * control sequences, oversized), published as they are.
 *
 * @example
 * const pub = await devicePublisher(broker.url);
 * await pub.retain(statusOf('gw-1', { phase: 'idle' }));
 * await pub.close();
 */
import { API_VERSION, parseDocument, topics, type Inventory, type Presence, type Status } from '../../contract/index.js';
import { connectBroker, type BrokerSession } from '../../host-tools/mqtt/client.js';

export const COMMIT = (n: number) => n.toString(16).padStart(64, '0');

export function statusOf(device: string, o: Partial<Omit<Status, 'apiVersion' | 'kind' | 'device'>> & { booted?: string; staged?: string } = {}): Status {
  const { booted, staged, ...rest } = o;
  return parseDocument('Status', {
    apiVersion: API_VERSION,
    kind: 'Status',
    device,
    group: 'lab',
    agentVersion: '0.1.0',
    updatedAt: '2026-03-01T12:00:00Z',
    deployments: { booted: { version: booted ?? '1.0', commit: COMMIT(1) }, staged: staged === undefined ? null : { version: staged, commit: COMMIT(2) }, rollback: null },
    phase: 'idle',
    updateId: null,
    progress: null,
    lastError: null,
    ...rest,
  });
}

export function presenceOf(device: string, online: boolean): Presence {
  return parseDocument('Presence', { apiVersion: API_VERSION, kind: 'Presence', device, online, agentVersion: '0.1.0', connectedAt: '2026-03-01T11:00:00Z' });
}

export function inventoryOf(device: string, packages: Inventory['packages'], codename?: string): Inventory {
  return parseDocument('Inventory', { apiVersion: API_VERSION, kind: 'Inventory', device, commit: COMMIT(1), updatedAt: '2026-03-01T12:00:00Z', ...(codename ? { codename } : {}), packages });
}

export interface DevicePublisher {
  /** Publishes a valid document retained on its device's topic. */
  retain: (doc: Status | Presence | Inventory) => Promise<void>;
  /** Publishes any payload, retained, on `<prefix>/devices/<level>/<leaf>` (the level unchecked). */
  raw: (level: string, leaf: string, payload: string | Buffer, o?: { retain?: boolean }) => Promise<void>;
  session: BrokerSession;
  close: () => Promise<void>;
}

export async function devicePublisher(url: string, prefix = 'ota'): Promise<DevicePublisher> {
  const session = await connectBroker({ url });
  const t = topics(prefix);
  const leafTopic = { Status: t.deviceStatus, Presence: t.deviceOnline, Inventory: t.deviceInventory };
  return {
    session,
    retain: (doc) => session.publish(leafTopic[doc.kind](doc.device), JSON.stringify(doc), { qos: 1, retain: true }),
    raw: (level, leaf, payload, o = {}) => session.publish(`${prefix}/devices/${level}/${leaf}`, payload, { qos: 1, retain: o.retain ?? true }),
    close: () => session.close(),
  };
}
