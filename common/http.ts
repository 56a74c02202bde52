import { OtaError } from './errors.js';
import { attempt, describeNetworkError, exhaustedHint, sleep } from './http-request.js';
import { readRegular } from './local-file.js';
import type { ProxyPolicy } from './proxy.js';

export { downloadFile, type DownloadOptions, type DownloadResult } from './download.js';

/**
 * The one HTTP client (docs/conventions.md, "One door per kind"). `http:`, `https:` and `file:`
 * URLs, on any port, through the proxy that `proxy.ts` chooses (the environment's, or apt's for
 * archives from apt's sources). Transient failures (connection errors, timeouts, 5xx, 429) are
 * retried with backoff, then reported as ERR_OTA_FETCH naming the URL and the attempts; what a
 * retry cannot fix (another 4xx, TLS, a peer that does not speak HTTP) fails at once
 * (`http-request.ts`). A 404 is not retried: `fetchBytes` returns `undefined` for it when
 * `allowMissing` is set, so callers can try the next candidate file.
 *
 * @example
 * const body = await fetchBytes('http://127.0.0.1:8080/dists/stable/InRelease');
 */
export interface FetchOptions {
  retries?: number;
  /** Milliseconds before the first retry; doubles each time. */
  backoffMs?: number;
  timeoutMs?: number;
  allowMissing?: boolean;
  signal?: AbortSignal;
  /** Default: the proxy variables of the environment (see `proxy.ts`). */
  proxy?: ProxyPolicy;
}

export async function fetchBytes(url: string, options: FetchOptions & { allowMissing: true }): Promise<Buffer | undefined>;
export async function fetchBytes(url: string, options?: FetchOptions): Promise<Buffer>;
export async function fetchBytes(url: string, options: FetchOptions = {}): Promise<Buffer | undefined> {
  if (url.startsWith('file:')) return readLocal(url, options);
  const retries = options.retries ?? 3;
  const backoff = options.backoffMs ?? 500;
  let lastReason = '';
  let lastProxy: string | undefined;
  for (let n = 0; n <= retries; n++) {
    if (n > 0) await sleep(backoff * 2 ** (n - 1));
    const a = await attempt(url, { timeoutMs: options.timeoutMs ?? 60_000, signal: options.signal, proxy: options.proxy });
    if (a.kind === 'retry') {
      lastReason = a.reason;
      lastProxy = a.proxy;
      continue;
    }
    if (a.kind === 'missing') {
      if (options.allowMissing) return undefined;
      throw new OtaError('ERR_OTA_FETCH', `${url} does not exist on the server (HTTP ${a.status})`, {
        hint: 'check the source uri, suite and component, or that the archive still carries this file',
      });
    }
    const res = a.res;
    try {
      return Buffer.from(await res.body.arrayBuffer());
    } catch (e) {
      if (options.signal?.aborted) throw e;
      lastReason = describeNetworkError(e);
    }
  }
  throw new OtaError('ERR_OTA_FETCH', `cannot reach ${url} after ${retries + 1} attempts: ${lastReason}`, {
    hint: exhaustedHint(lastProxy, 'a second run uses the index cache once a fetch has succeeded'),
  });
}

/** A `file:` URL: a regular file only (`local-file.ts`), so a device or a FIFO cannot hang the run. */
async function readLocal(url: string, options: FetchOptions): Promise<Buffer | undefined> {
  const body = await readRegular(url, { signal: options.signal });
  if (body === undefined && !options.allowMissing) throw new OtaError('ERR_OTA_FETCH', `${url} does not exist`, { hint: 'check the file: source uri, suite and component' });
  return body;
}
