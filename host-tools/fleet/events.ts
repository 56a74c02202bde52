/**
 * `ota fleet events DEVICE`'s work (docs/fleet.md, "ota fleet events"). A broker does not keep
 * events (they are published without retain), so what can be shown is the device's last result
 * from its retained status and presence and, while the command runs with follow, each event and
 * each status change as it arrives. Nothing is stored.
 *
 * @example
 * const r = await deviceEvents({ broker, prefix: 'ota', device: 'gw-1', follow: false, signal, onEvent: print, onStatus: print });
 * r.row?.phase; // 'committed'
 */
import { safeParseDocument, type DeviceEvent } from '../../contract/index.js';
import type { BrokerOptions } from '../mqtt/client.js';
import { deviceRow, type DeviceRow } from './device-view.js';
import { openFleetFeed, type BurstEnd } from './feed.js';
import { applyMessage, deviceTopic, LEAF_MAX_BYTES, newFleetState } from './fleet-state.js';
import { cleanText, cleanValue } from './sanitize.js';

/** An event as received: the document (every string cleaned), or why it was refused. */
export type EventMessage = { ok: true; event: DeviceEvent } | { ok: false; reason: string };

/** Reads one message of `<prefix>/devices/<device>/events`, as untrusted input. */
export function readEventMessage(device: string, payload: Uint8Array): EventMessage {
  if (payload.byteLength > LEAF_MAX_BYTES.events) return { ok: false, reason: `malformed (${payload.byteLength} bytes, over the ${LEAF_MAX_BYTES.events}-byte limit of an event)` };
  const r = safeParseDocument('Event', payload);
  if (!r.ok) return { ok: false, reason: `malformed (${cleanText(r.error.message.replace(/^invalid \w+ document: /, ''), { maxChars: 200 })})` };
  if (r.value.device !== device) return { ok: false, reason: `malformed (it names device ${r.value.device}, not the device of its topic)` };
  return { ok: true, event: cleanValue(r.value) };
}

export interface DeviceEventsOptions {
  broker: BrokerOptions;
  prefix: string;
  device: string;
  /** Keep listening after the retained documents until `signal` aborts. */
  follow: boolean;
  signal: AbortSignal;
  onEvent: (m: EventMessage) => void;
  /** After the retained documents (once), then at each change of the device's status or presence. */
  onStatus: (row: DeviceRow | null) => void;
}

export interface DeviceEventsResult {
  /** The device's last known row; null when it retained nothing readable. */
  row: DeviceRow | null;
  burstEnd: BurstEnd;
}

export async function deviceEvents(o: DeviceEventsOptions): Promise<DeviceEventsResult> {
  const state = newFleetState(o.prefix);
  let live = false;
  const row = () => {
    const r = state.devices.get(o.device);
    return r === undefined ? null : deviceRow(r);
  };
  const feed = await openFleetFeed({
    broker: o.broker,
    prefix: o.prefix,
    filters: ['status', 'online', 'events'].map((leaf) => `devices/${o.device}/${leaf}`),
    onMessage: (topic, payload) => {
      if (deviceTopic(o.prefix, topic)?.leaf === 'events') return o.onEvent(readEventMessage(o.device, payload));
      applyMessage(state, topic, payload);
      if (live) o.onStatus(row());
    },
  });
  try {
    const stopped = new Promise<null>((resolve) => {
      if (o.signal.aborted) resolve(null);
      o.signal.addEventListener('abort', () => resolve(null), { once: true });
    });
    const burstEnd = (await Promise.race([feed.burstEnd, stopped])) ?? 'quiet';
    live = true;
    o.onStatus(row());
    if (o.follow) await stopped;
    return { row: row(), burstEnd };
  } finally {
    await feed.close();
  }
}
