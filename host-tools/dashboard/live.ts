/**
 * The dashboard's live side (docs/dashboard.md, "Live updates"): one broker subscription for the
 * whole server, whatever the number of open pages, feeding the model; and the server-sent event
 * streams of the pages, each sent only what changed since the last flush (rows of the devices
 * that changed, ids of those gone, a device page's own device), a few times a second. A page's
 * first state is the stream's first event, so nothing changes unseen between the two.
 *
 * @example
 * const live = await openLive({ broker, prefix: 'ota', flushMs: 200, historySeconds: 10 });
 * live.attach(res, { device: null });
 * await live.close();
 */
import type { ServerResponse } from 'node:http';
import type { BrokerOptions } from '../mqtt/client.js';
import { openFleetFeed, type FleetFeed } from '../fleet/feed.js';
import { cleanText } from '../fleet/sanitize.js';
import { applyDashboardMessage, DEVICE_FILTERS, deviceSummary, fleetRows, newDashboardModel, packRows, ROW_FIELDS, sampleHistory, takeDirty, type DashboardModel } from './model.js';
import { readRelease, releaseTopicGroup, type ReleaseEntry } from './releases.js';

/** What one page's stream may have waiting to be sent before it is closed. */
export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export interface LiveOptions {
  broker: BrokerOptions;
  prefix: string;
  /** How often changes are sent to the pages (default 200 ms). */
  flushMs?: number;
  /** How often the versions are sampled for the chart (default 10 s). */
  historySeconds?: number;
  /** The rollouts page's state, sent when a page attaches and when `rolloutsChanged` is called. */
  rollouts?: () => unknown;
}

/** What a page follows: the fleet, one device (its raw id), or the rollouts. */
export type Follow = { fleet: true } | { device: string } | { rollouts: true };

interface Client {
  res: ServerResponse;
  /** The device a device page follows (raw id), or null for a fleet or rollouts page. */
  device: string | null;
  rollouts: boolean;
  /** The session the stream was opened with: a logout ends its streams. */
  session: string | null;
}

export interface Live {
  model: DashboardModel;
  /** Each group's retained release, by group. */
  releases: Map<string, ReleaseEntry>;
  /** Resolves once the retained documents have arrived. */
  ready: Promise<void>;
  attach: (res: ServerResponse, follow: Follow, session: string | null) => void;
  /** Ends the streams opened with a session (a logout). */
  endSession: (session: string) => void;
  /** Sends the rollouts' view to the rollouts pages (`rollouts` provides it). */
  rolloutsChanged: () => void;
  /** How many messages of devices' retained documents were applied: a change counter. */
  changes: () => number;
  clients: () => number;
  close: () => Promise<void>;
}

/** Sends each page what changed since the last flush: fleet pages the rows, device pages their device. */
function flushChanges(model: DashboardModel, clients: Set<Client>, send: (c: Client, event: string, data: unknown) => void): void {
  const d = takeDirty(model);
  if (d.rows.length > 0 || d.removed.length > 0) {
    const rows = packRows(d.rows);
    for (const c of clients) if (c.device === null && !c.rollouts) send(c, 'rows', { fields: ROW_FIELDS, rows, removed: d.removed });
  }
  const touched = new Set([...d.rows.map((r) => r.device), ...d.detail]);
  for (const c of clients) {
    if (c.device !== null && touched.has(c.device)) send(c, 'device', deviceSummary(model, c.device));
  }
}

export async function openLive(o: LiveOptions): Promise<Live> {
  const model = newDashboardModel(o.prefix);
  const releases = new Map<string, ReleaseEntry>();
  const clients = new Set<Client>();
  let changes = 0;
  const feed: FleetFeed = await openFleetFeed({
    broker: o.broker,
    prefix: o.prefix,
    filters: [...DEVICE_FILTERS, 'groups/+/release'],
    onMessage: (topic, payload) => {
      if (applyDashboardMessage(model, topic, payload, Date.now()) !== null) return void changes++;
      const group = releaseTopicGroup(o.prefix, topic);
      if (group === null) return;
      const g = cleanText(group, { maxChars: 64 });
      if (payload.byteLength === 0) releases.delete(g);
      else releases.set(g, readRelease(`group ${g}`, g, payload.toString('utf8')));
    },
  });
  const send = (c: Client, event: string, data: unknown) => {
    // A page that does not read (a background tab, a stalled link) must not make the server buffer
    // the fleet's changes without end: its stream is closed, and the browser's reconnection brings
    // it back with a fresh snapshot.
    if (c.res.writableLength > MAX_BUFFERED_BYTES) {
      clients.delete(c);
      c.res.destroy();
      return;
    }
    c.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const rolloutsChanged = () => {
    const view = o.rollouts?.() ?? [];
    for (const c of clients) if (c.rollouts) send(c, 'rollouts', view);
  };
  const ready = feed.burstEnd.then(() => {
    sampleHistory(model, Date.now());
  });
  const flush = setInterval(() => flushChanges(model, clients, send), o.flushMs ?? 200);
  const history = setInterval(() => {
    const point = sampleHistory(model, Date.now());
    for (const c of clients) if (c.device === null && !c.rollouts) send(c, 'history', point);
  }, (o.historySeconds ?? 10) * 1000);
  // A comment line now and then keeps proxies from closing an idle stream.
  const keepAlive = setInterval(() => {
    for (const c of clients) c.res.write(': keep-alive\n\n');
  }, 20_000);
  return {
    model,
    releases,
    ready,
    attach: (res, follow, session) => {
      const c: Client = { res, device: 'device' in follow ? follow.device : null, rollouts: 'rollouts' in follow, session };
      clients.add(c);
      // The page's first state comes on its stream, so no change falls between a snapshot and the stream.
      if (c.rollouts) send(c, 'rollouts', o.rollouts?.() ?? []);
      else if (c.device === null) send(c, 'snapshot', { fields: ROW_FIELDS, rows: packRows(fleetRows(model)), history: model.history });
      else send(c, 'device', deviceSummary(model, c.device));
      res.on('close', () => clients.delete(c));
    },
    endSession: (session) => {
      for (const c of clients) {
        if (c.session !== session) continue;
        clients.delete(c);
        c.res.end();
      }
    },
    rolloutsChanged,
    changes: () => changes,
    clients: () => clients.size,
    close: async () => {
      clearInterval(flush);
      clearInterval(history);
      clearInterval(keepAlive);
      for (const c of clients) c.res.end();
      clients.clear();
      await feed.close();
    },
  };
}
