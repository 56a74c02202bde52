import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { OtaError } from './errors.js';

/**
 * The one HTTP client (style.md 4). `http:`, `https:` and `file:` URLs; transient failures
 * (connection errors, timeouts, 5xx, 429) are retried with backoff, then reported as
 * ERR_OTA_FETCH naming the URL and the attempts. A 404 is not retried: `fetchBytes` returns
 * `undefined` for it when `allowMissing` is set, so callers can try the next candidate file.
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
}

export async function fetchBytes(url: string, options: FetchOptions & { allowMissing: true }): Promise<Buffer | undefined>;
export async function fetchBytes(url: string, options?: FetchOptions): Promise<Buffer>;
export async function fetchBytes(url: string, options: FetchOptions = {}): Promise<Buffer | undefined> {
  if (url.startsWith('file:')) return readLocal(url, options.allowMissing ?? false);
  const retries = options.retries ?? 3;
  const backoff = options.backoffMs ?? 500;
  let lastReason = '';
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await sleep(backoff * 2 ** (attempt - 1));
    let res: Response;
    try {
      const signals = [AbortSignal.timeout(options.timeoutMs ?? 60_000)];
      if (options.signal) signals.push(options.signal);
      res = await fetch(url, { signal: AbortSignal.any(signals), redirect: 'follow' });
    } catch (e) {
      if (options.signal?.aborted) throw e;
      lastReason = describeNetworkError(e);
      continue;
    }
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      if (options.allowMissing) return undefined;
      throw new OtaError('ERR_OTA_FETCH', `${url} does not exist on the server (HTTP ${res.status})`, {
        hint: 'check the source uri, suite and component, or that the archive still carries this file',
      });
    }
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      await res.body?.cancel();
      lastReason = `HTTP ${res.status} ${res.statusText}`;
      continue;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new OtaError('ERR_OTA_FETCH', `fetching ${url} failed: HTTP ${res.status} ${res.statusText}`);
    }
    try {
      return Buffer.from(await res.arrayBuffer());
    } catch (e) {
      lastReason = describeNetworkError(e);
    }
  }
  throw new OtaError('ERR_OTA_FETCH', `cannot reach ${url} after ${retries + 1} attempts: ${lastReason}`, {
    hint: 'check the network and the source uri; a second run uses the index cache once a fetch has succeeded',
  });
}

async function readLocal(url: string, allowMissing: boolean): Promise<Buffer | undefined> {
  try {
    return await readFile(fileURLToPath(url));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      if (allowMissing) return undefined;
      throw new OtaError('ERR_OTA_FETCH', `${url} does not exist`);
    }
    throw new OtaError('ERR_OTA_FETCH', `cannot read ${url}: ${(e as Error).message}`, { cause: e });
  }
}

function describeNetworkError(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return 'timed out';
  return err.cause?.code ?? err.cause?.message ?? err.message;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
