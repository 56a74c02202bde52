/**
 * The fleet as its retained documents tell it (docs/fleet.md, "ota fleet status"): one record per
 * device id seen in a topic, holding its last status, presence and inventory, or why one of them
 * was refused. Pure: `applyMessage` takes a topic and payload and changes the state, so the model
 * is tested without a broker. Everything here is untrusted input: the topic's id level, each
 * payload's size, JSON and schema, and that a document names the device whose topic it came on.
 *
 * @example
 * const fleet = newFleetState('ota');
 * applyMessage(fleet, 'ota/devices/gw-1/status', payload);
 * fleet.devices.get('gw-1')?.status?.phase; // 'idle'
 */
import { ID_PATTERN, LIMITS, MAX_DOCUMENT_BYTES, safeParseDocument, type Inventory, type Presence, type Status } from '../../contract/index.js';
import { cleanText } from './sanitize.js';

/** The retained documents a device publishes, by topic leaf (docs/contract.md, "MQTT topics (version 1)"). */
export const RETAINED_LEAVES = ['status', 'online', 'inventory'] as const;
export type RetainedLeaf = (typeof RETAINED_LEAVES)[number];

const KIND = { status: 'Status', online: 'Presence', inventory: 'Inventory' } as const;

/**
 * The most each leaf's payload may weigh before it is parsed. A status or presence is small (its
 * strings are bounded: docs/contract.md, "Size limits"), so a reader refuses far less than the
 * contract's 4 MiB for them; an inventory of 20000 packages may need the whole limit.
 */
export const LEAF_MAX_BYTES: Readonly<Record<RetainedLeaf | 'events', number>> = {
  status: 64 * 1024,
  online: 16 * 1024,
  inventory: MAX_DOCUMENT_BYTES,
  events: 64 * 1024,
};

export interface DeviceRecord {
  /** The id as the topic level had it, cleaned for display (a refused id can hold anything). */
  id: string;
  /** Whether the topic level is a device id the contract allows; documents of an invalid one are not read. */
  validId: boolean;
  status: Status | null;
  presence: Presence | null;
  inventory: Inventory | null;
  /** Why a leaf's last document was refused: "malformed (<reason>)" is shown for it. */
  problems: Partial<Record<RetainedLeaf | 'topic', string>>;
}

export interface FleetState {
  prefix: string;
  /** Keyed by the raw topic level, so two ids that clean to the same text stay two devices. */
  devices: Map<string, DeviceRecord>;
  /** Messages on topics that are not a device's retained document (counted, not shown). */
  ignored: number;
}

export function newFleetState(prefix: string): FleetState {
  return { prefix, devices: new Map(), ignored: 0 };
}

/** The device id and leaf of a topic under `<prefix>/devices/`, or null for any other topic. */
export function deviceTopic(prefix: string, topic: string): { id: string; leaf: string } | null {
  const head = `${prefix}/devices/`;
  if (!topic.startsWith(head)) return null;
  const rest = topic.slice(head.length).split('/');
  if (rest.length !== 2) return null;
  return { id: rest[0]!, leaf: rest[1]! };
}

/** Whether a topic level is a device id the contract allows (docs/contract.md, "MQTT topics (version 1)"). */
export function isDeviceId(level: string): boolean {
  return level.length <= LIMITS.idChars && ID_PATTERN.test(level);
}

/**
 * Applies one retained message. An empty payload clears that document (a retained message
 * deleted), and a device left with nothing is forgotten. Returns the id of the device that
 * changed, or null when the topic is not one of a device's retained documents.
 */
export function applyMessage(state: FleetState, topic: string, payload: Uint8Array): string | null {
  const t = deviceTopic(state.prefix, topic);
  if (t === null || !(RETAINED_LEAVES as readonly string[]).includes(t.leaf)) {
    state.ignored++;
    return null;
  }
  const leaf = t.leaf as RetainedLeaf;
  const record = state.devices.get(t.id) ?? newRecord(t.id);
  state.devices.set(t.id, record);
  if (!record.validId) {
    record.problems.topic = `malformed (the topic's device id is not 1 to ${LIMITS.idChars} letters, digits, ".", "_" or "-")`;
    return t.id;
  }
  setDocument(record, leaf, null);
  delete record.problems[leaf];
  if (payload.byteLength > 0) readDocument(record, leaf, payload);
  if (isEmpty(record)) state.devices.delete(t.id);
  return t.id;
}

function readDocument(record: DeviceRecord, leaf: RetainedLeaf, payload: Uint8Array): void {
  const max = LEAF_MAX_BYTES[leaf];
  if (payload.byteLength > max) {
    record.problems[leaf] = `malformed (${payload.byteLength} bytes, over the ${max}-byte limit of a ${leaf} document)`;
    return;
  }
  const r = safeParseDocument(KIND[leaf], payload);
  if (!r.ok) {
    record.problems[leaf] = `malformed (${cleanText(r.error.message.replace(/^invalid \w+ document: /, ''), { maxChars: 200 })})`;
    return;
  }
  if (r.value.device !== record.id) {
    record.problems[leaf] = `malformed (it names device ${r.value.device}, not the device of its topic)`;
    return;
  }
  setDocument(record, leaf, r.value);
}

function setDocument(record: DeviceRecord, leaf: RetainedLeaf, doc: Status | Presence | Inventory | null): void {
  if (leaf === 'status') record.status = doc as Status | null;
  else if (leaf === 'online') record.presence = doc as Presence | null;
  else record.inventory = doc as Inventory | null;
}

function newRecord(level: string): DeviceRecord {
  const validId = isDeviceId(level);
  return { id: validId ? level : cleanText(level, { maxChars: LIMITS.idChars }), validId, status: null, presence: null, inventory: null, problems: {} };
}

function isEmpty(r: DeviceRecord): boolean {
  return r.status === null && r.presence === null && r.inventory === null && Object.keys(r.problems).length === 0;
}
