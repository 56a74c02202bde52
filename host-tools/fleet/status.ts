/**
 * `ota fleet status`'s work, between the broker and the view (docs/fleet.md, "ota fleet status"):
 * read every device's retained status, presence and inventory until the retained burst is over,
 * and, with watch, keep applying what devices publish after it until stopped.
 *
 * @example
 * const r = await readFleetStatus({ broker: { url }, prefix: 'ota' });
 * for (const d of r.view.devices) console.log(d.device, d.phase);
 */
import type { BrokerOptions } from '../mqtt/client.js';
import { fleetView, type FleetView } from './device-view.js';
import { openFleetFeed, type BurstEnd } from './feed.js';
import { applyMessage, newFleetState, type FleetState } from './fleet-state.js';

export interface FleetStatusOptions {
  broker: BrokerOptions;
  prefix: string;
  group?: string;
  /** Which retained documents to read (default status and presence: inventories can be large, and add only a time). */
  leaves?: ('status' | 'online' | 'inventory')[];
  quietSeconds?: number;
}

export interface FleetStatus {
  view: FleetView;
  state: FleetState;
  /** How the end of the retained documents was known (docs/fleet.md, "The end of the retained burst"). */
  burstEnd: BurstEnd;
  /** How many retained messages the broker sent. */
  retainedMessages: number;
}

export async function readFleetStatus(o: FleetStatusOptions): Promise<FleetStatus> {
  const state = newFleetState(o.prefix);
  const feed = await openFleetFeed({ ...feedOptions(o), onMessage: (t, p) => applyMessage(state, t, p) });
  try {
    const burstEnd = await feed.burstEnd;
    return { view: fleetView(state, { group: o.group }), state, burstEnd, retainedMessages: feed.burstMessages() };
  } finally {
    await feed.close();
  }
}

export interface WatchOptions extends FleetStatusOptions {
  /** Stops the watch (Ctrl-C in the CLI). */
  signal: AbortSignal;
  /**
   * Once after the retained burst (device null), then after each change (the device's raw id).
   * The state is handed over rather than a view: a view of the whole fleet per message would
   * cost O(devices) each time a device of a large fleet reports.
   */
  onUpdate: (state: FleetState, device: string | null) => void;
}

/** Watches the fleet until `signal` aborts; resolves then, having closed the connection. */
export async function watchFleetStatus(o: WatchOptions): Promise<BurstEnd> {
  const state = newFleetState(o.prefix);
  let live = false;
  const feed = await openFleetFeed({
    ...feedOptions(o),
    onMessage: (t, p) => {
      const id = applyMessage(state, t, p);
      if (live && id !== null) o.onUpdate(state, id);
    },
  });
  try {
    const stopped = new Promise<void>((resolve) => {
      if (o.signal.aborted) resolve();
      o.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    const end = await Promise.race([feed.burstEnd, stopped.then(() => null)]);
    if (end === null) return 'quiet';
    live = true;
    o.onUpdate(state, null);
    await stopped;
    return end;
  } finally {
    await feed.close();
  }
}

function feedOptions(o: FleetStatusOptions) {
  const leaves = o.leaves ?? ['status', 'online'];
  return { broker: o.broker, prefix: o.prefix, filters: leaves.map((l) => `devices/+/${l}`), quietSeconds: o.quietSeconds };
}

/**
 * Mosquitto keeps at most `max_queued_messages` (default 1000) QoS 1 messages queued per client
 * beyond the 20 in flight, and drops the rest: a retained burst larger than that arrives cut
 * short, and nothing says so (docs/fleet.md, "Large fleets on Mosquitto"). A warning for a
 * burst that size, or null.
 */
export function burstWarning(retainedMessages: number): string | null {
  if (retainedMessages < 1000) return null;
  return `warning: the broker sent ${retainedMessages} retained messages; a Mosquitto with its default max_queued_messages (1000) drops those past about 1020 without a word: set max_queued_messages 0 (docs/fleet.md, "Large fleets on Mosquitto")`;
}
