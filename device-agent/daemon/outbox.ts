/**
 * What the relay keeps while the broker is away (docs/agent.md, "The daemon and its workers"):
 * retained documents (status, inventory) only in their latest version, since a broker keeps only
 * the last one anyway, and at most `MAX_EVENTS` events, the oldest dropped and counted. Flushed
 * in the order they were written once the connection is back.
 *
 * @example
 * let box = emptyOutbox();
 * box = put(box, { topic, payload, qos: 1, retain: true, slot: 'status' });
 * for (const m of box.items) session.publish(m);
 */
export interface OutboxItem {
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain: boolean;
  /** A retained document's slot: a newer one replaces the older; null for events. */
  slot: 'status' | 'inventory' | null;
}

export interface Outbox {
  readonly items: readonly OutboxItem[];
  /** Events dropped since the box was last emptied. */
  readonly dropped: number;
}

export const MAX_EVENTS = 256;

export function emptyOutbox(): Outbox {
  return { items: [], dropped: 0 };
}

export function put(box: Outbox, item: OutboxItem): Outbox {
  if (item.slot !== null) return { items: [...box.items.filter((i) => i.slot !== item.slot), item], dropped: box.dropped };
  const events = box.items.filter((i) => i.slot === null).length;
  if (events < MAX_EVENTS) return { items: [...box.items, item], dropped: box.dropped };
  const oldest = box.items.findIndex((i) => i.slot === null);
  return { items: [...box.items.filter((_, i) => i !== oldest), item], dropped: box.dropped + 1 };
}
