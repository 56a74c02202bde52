/**
 * The fleet dashboard (docs/dashboard.md): a web page for the fleet, its devices, releases and
 * rollouts, live from one broker subscription, on loopback unless told otherwise, behind a login
 * secret, over HTTPS when given a certificate. `ota fleet dashboard` runs it against any
 * broker; `ota serve --dashboard` against its own, with the published directory's releases.
 *
 * @example
 * const d = await startDashboard({ broker: { url: 'mqtt://127.0.0.1:1883' }, prefix: 'ota', port: 0 });
 * console.log(d.loginUrl); // http://127.0.0.1:41234/login?token=...
 * await d.close();
 */
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { OtaError } from '../../common/errors.js';
import type { BrokerOptions } from '../mqtt/client.js';
import { newAuth } from './auth.js';
import { originPolicy } from './http-policy.js';
import { dirname } from 'node:path';
import { defaultStatePath } from '../fleet/rollout-state.js';
import { rollbackActions } from './actions.js';
import { openLive, type Live } from './live.js';
import { rolloutActions } from './rollout-actions.js';
import { newRolloutTracker, type RolloutTracker } from './rollouts.js';
import { publishedReleases } from './releases.js';
import { dashboardHandler } from './routes.js';
import { loadWebFiles } from './web-files.js';

export interface DashboardOptions {
  broker: BrokerOptions;
  prefix: string;
  /** Default 127.0.0.1. */
  listen?: string;
  /** Default 8090; 0 picks a free port. */
  port?: number;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { certFile: string; keyFile: string };
  /** The login secret's file (first line); absent: a random token. */
  passwordFile?: string;
  /** A published directory whose releases the release page lists. */
  published?: string;
  /** Further origins the page is reached by (a name, a proxy). */
  origins?: string[];
  /** The folder of the rollout controller's state files (docs/fleet.md, "Where a rollout's state lives"). */
  rolloutStateDir?: string;
  /** The operator's signing key the actions sign with; absent: the page offers no action. */
  signingKey?: string;
  flushMs?: number;
  historySeconds?: number;
}

export interface Dashboard {
  url: string;
  /** The URL that logs in with the generated token; null with a password file. */
  loginUrl: string | null;
  /** Set when the token was generated (to print it); null with a password file. */
  token: string | null;
  close: () => Promise<void>;
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  // Everything that can be refused is read before the broker is dialled or a port taken.
  const auth = await newAuth({ passwordFile: o.passwordFile });
  const web = await loadWebFiles();
  const tls = o.tls === undefined ? undefined : await readTls(o.tls);
  for (const u of o.origins ?? []) checkOrigin(u);
  const stateDir = o.rolloutStateDir ?? dirname(defaultStatePath('group'));
  const tracker = newRolloutTracker(stateDir);
  const rollouts = () => ({ dir: stateDir, actions: o.signingKey !== undefined, rollouts: tracker.view() });
  const live = await openLive({ broker: o.broker, prefix: o.prefix, flushMs: o.flushMs, historySeconds: o.historySeconds, rollouts });
  const stopTracking = track(tracker, live);
  const https = tls !== undefined;
  const listen = o.listen ?? '127.0.0.1';
  let server: Server | undefined;
  try {
    const holder: { handler?: ReturnType<typeof dashboardHandler> } = {};
    server = https ? createHttpsServer(tls, (q, s) => holder.handler!(q, s)) : createHttpServer((q, s) => holder.handler!(q, s));
    const port = await listenOn(server, listen, o.port ?? 8090);
    const policy = originPolicy({ scheme: https ? 'https' : 'http', port, listen, origins: o.origins });
    const releases = o.published === undefined ? async () => [] : () => publishedReleases(o.published!);
    const base = { broker: o.broker, prefix: o.prefix, keyPath: o.signingKey };
    const actions = { ...rollbackActions(base), ...rolloutActions({ ...base, statePath: tracker.statePath }) };
    const views = { config: async () => ({ actions: o.signingKey !== undefined }) };
    holder.handler = dashboardHandler({ auth, policy, live, web, https, releases, views, actions });
    const url = policy.origins[0]!;
    const s = server;
    return {
      url,
      loginUrl: auth.generated ? `${url}/login?token=${auth.secret}` : null,
      token: auth.generated ? auth.secret : null,
      close: async () => {
        const closed = new Promise<void>((resolve) => s.close(() => resolve()));
        await stopTracking();
        await live.close();
        s.closeAllConnections();
        await closed;
      },
    };
  } catch (e) {
    server?.close();
    await stopTracking();
    await live.close();
    throw e;
  }
}

/**
 * Recounts the rollouts once a second when a device's document or a state file changed, and
 * sends the rollouts pages the new view. One refresh at a time; a failing one is retried.
 */
function track(tracker: RolloutTracker, live: Live): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(async () => {
      if (await tracker.refresh(live.model.fleet, new Date(), live.changes()).catch(() => false)) live.rolloutsChanged();
    });
  }, 1000);
  return async () => {
    clearInterval(timer);
    await running;
  };
}

async function readTls(t: { certFile: string; keyFile: string }): Promise<{ cert: Buffer; key: Buffer }> {
  const read = async (file: string, what: string) => {
    try {
      return await readFile(file);
    } catch (e) {
      throw new OtaError('ERR_OTA_USAGE', `cannot read ${what} ${file}: ${(e as Error).message}`, { hint: 'give a PEM certificate with --cert and its key with --key', cause: e });
    }
  };
  return { cert: await read(t.certFile, '--cert'), key: await read(t.keyFile, '--key') };
}

function checkOrigin(u: string): void {
  let url: URL | null = null;
  try {
    url = new URL(u);
  } catch {
    url = null;
  }
  if (url === null || !['http:', 'https:'].includes(url.protocol) || url.origin !== u.replace(/\/$/, '')) {
    throw new OtaError('ERR_OTA_USAGE', `--origin takes an origin such as https://ota.lan:8090, not ${JSON.stringify(u)}`, { hint: 'scheme, host and port only: no path' });
  }
}

async function listenOn(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EADDRNOTAVAIL' ? 'no interface has that address' : e.message;
      reject(new OtaError('ERR_OTA_USAGE', `cannot listen on ${host}:${port} (dashboard): ${why}`, { hint: 'choose another port (0 picks a free one) or --listen address', cause: e }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
