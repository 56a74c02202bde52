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
import { applyDashboardMessage, DEVICE_FILTERS, deviceSummary, fleetRows, newDashboardModel, sampleHistory, takeDirty, type DashboardModel } from './model.js';
import { readRelease, releaseTopicGroup, type ReleaseEntry } from './releases.js';

export interface LiveOptions {
  broker: BrokerOptions;
  prefix: string;
  /** How often changes are sent to the pages (default 200 ms). */
  flushMs?: number;
  /** How often the versions are sampled for the chart (default 10 s). */
  historySeconds?: number;
  /** Further topic filters under the prefix, and who reads their messages (the rollouts' view). */
  extra?: { filters: string[]; onMessage: (topic: string, payload: Buffer) => boolean };
}

interface Client {
  res: ServerResponse;
  /** The device a device page follows (raw id), or null for a fleet page. */
  device: string | null;
}

export interface Live {
  model: DashboardModel;
  /** Each group's retained release, by group. */
  releases: Map<string, ReleaseEntry>;
  /** Resolves once the retained documents have arrived. */
  ready: Promise<void>;
  attach: (res: ServerResponse, o: { device: string | null }) => void;
  /** Sends an event to every open page (a rollout changed, say). */
  broadcast: (event: string, data: unknown) => void;
  clients: () => number;
  close: () => Promise<void>;
}

export async function openLive(o: LiveOptions): Promise<Live> {
  const model = newDashboardModel(o.prefix);
  const releases = new Map<string, ReleaseEntry>();
  const clients = new Set<Client>();
  let extraChanged = false;
  const feed: FleetFeed = await openFleetFeed({
    broker: o.broker,
    prefix: o.prefix,
    filters: [...DEVICE_FILTERS, 'groups/+/release', ...(o.extra?.filters ?? [])],
    onMessage: (topic, payload) => {
      if (applyDashboardMessage(model, topic, payload, Date.now()) !== null) return;
      const group = releaseTopicGroup(o.prefix, topic);
      if (group !== null) {
        const g = cleanText(group, { maxChars: 64 });
        if (payload.byteLength === 0) releases.delete(g);
        else releases.set(g, readRelease(`group ${g}`, g, payload.toString('utf8')));
        return;
      }
      if (o.extra?.onMessage(topic, payload)) extraChanged = true;
    },
  });
  const send = (c: Client, event: string, data: unknown) => c.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const broadcast = (event: string, data: unknown) => {
    for (const c of clients) send(c, event, data);
  };
  const ready = feed.burstEnd.then(() => {
    sampleHistory(model, Date.now());
  });
  const flush = setInterval(() => {
    const d = takeDirty(model);
    if (d.rows.length > 0 || d.removed.length > 0) {
      for (const c of clients) if (c.device === null) send(c, 'rows', { rows: d.rows, removed: d.removed });
    }
    const touched = new Set([...d.rows.map((r) => r.device), ...d.detail]);
    for (const c of clients) {
      if (c.device !== null && touched.has(c.device)) send(c, 'device', deviceSummary(model, c.device));
    }
    if (extraChanged) {
      extraChanged = false;
      broadcast('rollouts', null);
    }
  }, o.flushMs ?? 200);
  const history = setInterval(() => {
    const point = sampleHistory(model, Date.now());
    for (const c of clients) if (c.device === null) send(c, 'history', point);
  }, (o.historySeconds ?? 10) * 1000);
  // A comment line now and then keeps proxies from closing an idle stream.
  const keepAlive = setInterval(() => {
    for (const c of clients) c.res.write(': keep-alive\n\n');
  }, 20_000);
  return {
    model,
    releases,
    ready,
    attach: (res, a) => {
      const c = { res, device: a.device };
      clients.add(c);
      // The page's first state comes on its stream, so no change falls between a snapshot and the stream.
      if (c.device === null) send(c, 'snapshot', { rows: fleetRows(model), history: model.history });
      else send(c, 'device', deviceSummary(model, c.device));
      res.on('close', () => clients.delete(c));
    },
    broadcast,
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
