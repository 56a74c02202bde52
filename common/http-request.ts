import { STATUS_CODES } from 'node:http';
import { createRequire } from 'node:module';
import type { Agent as AgentClass, Dispatcher, ProxyAgent as ProxyAgentClass, interceptors as Interceptors } from 'undici';
import { agentBuild } from './build-info.js';
import { OtaError } from './errors.js';
import { trace } from './events.js';
import { envProxyPolicy, proxyFor, type ProxyPolicy } from './proxy.js';

/**
 * The parts of undici this module uses, loaded alone, as undici's index puts them together (its
 * request methods on every dispatcher): the index loads all of undici (fetch, WebSocket, caches,
 * mock agents), 90 ms of CPU in each process that does HTTP, where these take 30 (docs/agent.md,
 * "Footprint of the relay": each update runs in such a process). test/common/http.test.ts fails
 * at once if an undici upgrade moves them.
 */
// In the one-file agent esbuild bundles what it sees required by name (docs/agent.md, "Shipping the agent"); from dist/
// an ES module has no require, and createRequire loads from node_modules.
const requireCjs = agentBuild() === null ? createRequire(import.meta.url) : undefined;
/* eslint-disable @typescript-eslint/no-require-imports -- the bundle's own require, never reached from dist/ */
const dispatcher = (requireCjs?.('undici/lib/dispatcher/dispatcher.js') ?? require('undici/lib/dispatcher/dispatcher.js')) as { prototype: object };
Object.assign(dispatcher.prototype, requireCjs?.('undici/lib/api/index.js') ?? require('undici/lib/api/index.js'));
const Agent = (requireCjs?.('undici/lib/dispatcher/agent.js') ?? require('undici/lib/dispatcher/agent.js')) as typeof AgentClass;
const ProxyAgent = (requireCjs?.('undici/lib/dispatcher/proxy-agent.js') ?? require('undici/lib/dispatcher/proxy-agent.js')) as typeof ProxyAgentClass;
const redirect = (requireCjs?.('undici/lib/interceptor/redirect.js') ?? require('undici/lib/interceptor/redirect.js')) as typeof Interceptors.redirect;
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * One HTTP request, classified once for `http.ts`'s callers. It goes through undici's `request`
 * rather than the global `fetch`: fetch ignores the proxy variables and refuses whole ports that
 * browsers block (6000 for X11, 6665-6669 for IRC, ...), where an archive may well live, and
 * neither is a reason for a build tool to fail.
 */
export interface AttemptOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Non-2xx statuses the caller handles itself (416 for a resumed download). */
  accept?: number[];
  /** Default: the proxy variables of this process's environment. */
  proxy?: ProxyPolicy;
}

export interface Response {
  status: number;
  body: Dispatcher.ResponseData['body'];
}

export type Attempt = { kind: 'response'; res: Response } | { kind: 'missing'; status: number } | { kind: 'retry'; reason: string; proxy?: string };

/** The hint for a request that failed every attempt: the proxy when there was one, else the network. */
export function exhaustedHint(proxy: string | undefined, then: string): string {
  return proxy ? `check that the proxy ${redact(proxy)} is up (it comes from http_proxy/https_proxy or apt's Acquire::http::Proxy; no_proxy lists hosts reached directly)` : `check the network and the source; ${then}`;
}

/**
 * A 404/410 is `missing`; connection errors, timeouts, 5xx, 429 and 408 are worth a `retry`;
 * anything a retry cannot change (another 4xx, a certificate the TLS check refuses, a host name
 * that does not exist, a proxy that refuses the tunnel) is an ERR_OTA_FETCH at once. The body of
 * a non-`response` is discarded.
 */
export async function attempt(url: string, opts: AttemptOptions): Promise<Attempt> {
  const { proxy, dispatcher } = route(url, opts.proxy ?? envProxyPolicy(process.env));
  const via = proxy ? ` through proxy ${redact(proxy)}` : '';
  let res: Dispatcher.ResponseData;
  try {
    const signals = [AbortSignal.timeout(opts.timeoutMs)];
    if (opts.signal) signals.push(opts.signal);
    const u = new URL(url);
    res = await dispatcher.request({ origin: u.origin, path: `${u.pathname}${u.search}`, method: 'GET', headers: opts.headers, signal: AbortSignal.any(signals) });
  } catch (e) {
    trace({ phase: 'http', method: 'GET', url, message: `${describeNetworkError(e)}${via}` });
    if (opts.signal?.aborted) throw e;
    const reason = describeNetworkError(e);
    if (isTransient(e)) return { kind: 'retry', reason: `${reason}${via}`, proxy };
    throw new OtaError('ERR_OTA_FETCH', `fetching ${url}${via} failed: ${reason}`, {
      hint: proxy ? 'check the proxy (http_proxy, https_proxy, no_proxy, or apt\'s Acquire::http::Proxy)' : 'a retry will not help: check the URL, the certificate or the host name',
      cause: e,
    });
  }
  const status = res.statusCode;
  trace({ phase: 'http', method: 'GET', url, status, message: `${STATUS_CODES[status] ?? ''}${via}` });
  if ((status >= 200 && status < 300) || opts.accept?.includes(status)) return { kind: 'response', res: { status, body: res.body } };
  await res.body.dump().catch(() => {});
  const text = `HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
  if (status === 404 || status === 410) return { kind: 'missing', status };
  if (status >= 500 || status === 429 || status === 408) return { kind: 'retry', reason: `${text}${via}`, proxy };
  throw new OtaError('ERR_OTA_FETCH', `fetching ${url}${via} failed: ${text}`, {
    hint: status === 407 ? 'the proxy wants credentials: put them in the proxy URL (http://user:password@host:port)' : 'the server refuses this request; a retry will not change that',
  });
}

/** Errors that a later attempt may not meet: the network, the server or a timeout, not the request. */
const TRANSIENT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

export function isTransient(e: unknown): boolean {
  const err = e as { name?: string; code?: string; cause?: { code?: string } };
  if (err.name === 'TimeoutError') return true;
  return TRANSIENT.has(err.code ?? '') || TRANSIENT.has(err.cause?.code ?? '');
}

export function describeNetworkError(e: unknown): string {
  const err = e as Error & { code?: string; cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return 'timed out';
  const code = err.code && !err.code.startsWith('UND_ERR') ? err.code : err.cause?.code;
  // `connect ECONNREFUSED 127.0.0.1:80` says no more than its code; other messages do.
  if (code) return err.message.includes(code) || !err.message ? code : `${err.message} (${code})`;
  return err.message || String(e);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A proxy URL without its password, for messages. */
export function redact(proxy: string): string {
  try {
    const u = new URL(proxy);
    if (u.password) u.password = '***';
    return u.href.replace(/\/$/, '');
  } catch {
    return proxy;
  }
}

/** The proxy for `url` and the pool that goes there; a URL or a proxy setting that does not parse is bad input. */
function route(url: string, policy: ProxyPolicy): { proxy: string | undefined; dispatcher: Dispatcher } {
  let proxy: string | undefined;
  try {
    proxy = proxyFor(url, policy);
  } catch {
    throw new OtaError('ERR_OTA_USAGE', `${url} is not a valid URL`, { hint: 'check the source uri in the manifest (or the variable it comes from)' });
  }
  try {
    return { proxy, dispatcher: dispatcherFor(proxy) };
  } catch (e) {
    throw new OtaError('ERR_OTA_USAGE', `the proxy ${redact(proxy ?? '')} for ${url} is not a valid proxy URL: ${(e as Error).message}`, {
      hint: 'write it as http://host:port (http_proxy, https_proxy, or apt\'s Acquire::http::Proxy)',
    });
  }
}

const dispatchers = new Map<string, Dispatcher>();

/**
 * One connection pool per proxy (or none), kept for the process. Redirects are followed, as apt
 * does. Plain http: goes to an http proxy as an absolute-URI request rather than a CONNECT
 * tunnel, so caching proxies (apt-cacher-ng, squid) can cache it and need not allow CONNECT.
 */
function dispatcherFor(proxy: string | undefined): Dispatcher {
  const key = proxy ?? '';
  let d = dispatchers.get(key);
  if (!d) {
    const base = proxy ? new ProxyAgent({ uri: proxy, proxyTunnel: false }) : new Agent();
    d = base.compose(redirect({ maxRedirections: 5 }));
    dispatchers.set(key, d);
  }
  return d;
}
