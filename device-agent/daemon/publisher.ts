import type { DeviceEvent } from '../../contract/documents/event.js';
import type { Inventory } from '../../contract/documents/inventory.js';
import type { Status } from '../../contract/documents/status.js';
import type { Topics } from '../../contract/topics.js';
import type { Publication } from '../../common/mqtt/session.js';
import { emptyOutbox, put, type Outbox, type OutboxItem } from './outbox.js';
import { drainSuppressed, fullBucket, statusSendAt, SUPPRESSED_WINDOW_MS, takeToken, type Bucket, type StatusKey } from './rate-limit.js';
import { isoTime } from '../../common/iso-time.js';

/**
 * Where the relay's documents go (docs/agent.md, "The daemon and its workers"): to the broker
 * when connected, into the outbox when not, through the status limiter and the bad-input bucket.
 * With no broker configured, nowhere: the worker's own journal lines are the record then.
 *
 * @example
 * const p = new Publisher({ session: () => session, topics, device: 'gw-1', statusMinIntervalMs: 1000, log, now: Date.now });
 * p.status(doc); p.flush(); // after a reconnect
 */
export type LogLevel = 3 | 4 | 6;

export interface PublisherOptions {
  /** The session, or null: no broker (yet). */
  session: () => { publish(p: Publication): boolean } | null;
  topics: Topics;
  device: string;
  statusMinIntervalMs: number;
  log: (level: LogLevel, text: string) => void;
  now: () => number;
}

export class Publisher {
  private box: Outbox = emptyOutbox();
  private lastStatus: { key: StatusKey; sentAtMs: number } | null = null;
  private pendingStatus: Status | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private bucket: Bucket;
  private drainTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly o: PublisherOptions) {
    this.bucket = fullBucket(o.now());
  }

  status(doc: Status): void {
    const key = { phase: doc.phase, updateId: doc.updateId };
    const at = statusSendAt(this.lastStatus, key, this.o.now(), this.o.statusMinIntervalMs);
    if (at === 'now') {
      this.clearStatusTimer();
      this.sendStatus(doc);
      return;
    }
    // Only the newest progress matters; it goes when the interval has passed.
    this.pendingStatus = doc;
    if (this.stopped) return;
    // Unref'd, as the drain timer below: neither may keep a stopping relay's process alive.
    this.statusTimer ??= setTimeout(() => {
      this.statusTimer = null;
      if (this.pendingStatus !== null) this.sendStatus(this.pendingStatus);
    }, at - this.o.now()).unref();
  }

  event(doc: DeviceEvent): void {
    this.send({ topic: this.o.topics.deviceEvents(this.o.device), payload: JSON.stringify(doc), qos: 1, retain: false, slot: null });
  }

  inventory(doc: Inventory): void {
    this.send({ topic: this.o.topics.deviceInventory(this.o.device), payload: JSON.stringify(doc), qos: 1, retain: true, slot: 'inventory' });
  }

  /** Bad input: logged and reported as an event while the bucket has tokens, counted otherwise. */
  badInput(doc: DeviceEvent, line: string): void {
    const r = takeToken(this.bucket, this.o.now());
    this.bucket = r.bucket;
    if (r.allowed) {
      this.o.log(4, line);
      this.event(doc);
      return;
    }
    if (!this.stopped) this.drainTimer ??= setTimeout(() => this.drain(doc), SUPPRESSED_WINDOW_MS).unref();
  }

  /** Telemetry goes only while connected: an old measurement is worth nothing later. */
  live(p: Publication): void {
    this.o.session()?.publish(p);
  }

  /** After a reconnect: everything kept, in the order it was written. */
  flush(): void {
    const { items, dropped } = this.box;
    this.box = emptyOutbox();
    if (dropped > 0) this.o.log(4, `the broker was away: ${dropped} older events were dropped, the newest ${items.filter((i) => i.slot === null).length} are sent`);
    for (const item of items) this.send(item);
  }

  stop(): void {
    this.stopped = true;
    this.clearStatusTimer();
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    this.drainTimer = null;
  }

  private drain(template: DeviceEvent): void {
    this.drainTimer = null;
    const r = drainSuppressed(this.bucket, this.o.now());
    this.bucket = r.bucket;
    if (r.count === 0) return;
    const text = `${r.count} bad messages suppressed in the last minute`;
    this.o.log(4, text);
    this.event({ ...template, updateId: null, reason: text, time: isoTime(this.o.now()) });
  }

  private sendStatus(doc: Status): void {
    this.pendingStatus = null;
    this.lastStatus = { key: { phase: doc.phase, updateId: doc.updateId }, sentAtMs: this.o.now() };
    this.send({ topic: this.o.topics.deviceStatus(this.o.device), payload: JSON.stringify(doc), qos: 1, retain: true, slot: 'status' });
  }

  private clearStatusTimer(): void {
    if (this.statusTimer !== null) clearTimeout(this.statusTimer);
    this.statusTimer = null;
    this.pendingStatus = null;
  }

  private send(item: OutboxItem): void {
    const session = this.o.session();
    if (session === null) return;
    const { slot: _slot, ...p } = item;
    if (!session.publish(p)) this.box = put(this.box, item);
  }
}
