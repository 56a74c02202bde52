import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { OtaError } from './errors.js';
import { attempt, describeNetworkError } from './http-request.js';
import type { ProxyPolicy } from './proxy.js';

/**
 * The one HTTP client (docs/code-style.md, "One door per kind"). `http:`, `https:` and `file:` URLs; transient failures
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
  /** Default: the proxy variables of the environment (see `proxy.ts`). */
  proxy?: ProxyPolicy;
}

export async function fetchBytes(url: string, options: FetchOptions & { allowMissing: true }): Promise<Buffer | undefined>;
export async function fetchBytes(url: string, options?: FetchOptions): Promise<Buffer>;
export async function fetchBytes(url: string, options: FetchOptions = {}): Promise<Buffer | undefined> {
  if (url.startsWith('file:')) return readLocal(url, options.allowMissing ?? false);
  const retries = options.retries ?? 3;
  const backoff = options.backoffMs ?? 500;
  let lastReason = '';
  for (let n = 0; n <= retries; n++) {
    if (n > 0) await sleep(backoff * 2 ** (n - 1));
    const a = await attempt(url, { timeoutMs: options.timeoutMs ?? 60_000, signal: options.signal, proxy: options.proxy });
    if (a.kind === 'retry') {
      lastReason = a.reason;
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

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface DownloadOptions {
  expectedSize: number;
  expectedSha256: string;
  retries?: number;
  backoffMs?: number;
  timeoutMs?: number;
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
  proxy?: ProxyPolicy;
}

export type DownloadResult = { status: 'ok'; resumedFrom: number } | { status: 'missing' };

/**
 * Downloads `url` to `dest`, streaming to `dest.partial` and hashing on the way. An existing
 * partial file is resumed with an HTTP Range request (a server that ignores Range simply sends
 * it all again); transient failures are retried, resuming each time. Only a file whose size and
 * SHA256 match lands at `dest` (renamed after fsync); a mismatch removes the partial file and
 * is ERR_OTA_HASH. A 404 returns `{ status: 'missing' }`, so callers can try the next URI. A
 * `file:` URL (a local archive) is copied and checked the same way; a missing file is `missing`.
 *
 * @example
 * await downloadFile(`${uri}/${filename}`, `${cache}/${sha256}.deb`, { expectedSize: size, expectedSha256: sha256 });
 */
export async function downloadFile(url: string, dest: string, options: DownloadOptions): Promise<DownloadResult> {
  const partial = `${dest}.partial`;
  if (url.startsWith('file:')) return copyLocal(url, partial, dest, options);
  const retries = options.retries ?? 3;
  let lastReason = '';
  let resumedFrom = 0;
  for (let n = 0; n <= retries; n++) {
    if (n > 0) await sleep((options.backoffMs ?? 500) * 2 ** (n - 1));
    let have = await sizeOf(partial);
    if (have > options.expectedSize) {
      await rm(partial, { force: true });
      have = 0;
    }
    const headers: Record<string, string> = have > 0 ? { Range: `bytes=${have}-` } : {};
    // 416: our partial file is already as long as the server's; it is verified as it is.
    const a = await attempt(url, { timeoutMs: options.timeoutMs ?? 300_000, signal: options.signal, headers, accept: [416], proxy: options.proxy });
    if (a.kind === 'retry') {
      lastReason = a.reason;
      continue;
    }
    if (a.kind === 'missing') return { status: 'missing' };
    const res = a.res;
    if (res.status === 416) {
      await res.body.dump();
    } else {
      const append = res.status === 206 && have > 0;
      if (append) resumedFrom = have;
      try {
        await pipeline(res.body, countBytes(options.onBytes), createWriteStream(partial, { flags: append ? 'a' : 'w' }));
      } catch (e) {
        if (options.signal?.aborted) throw e;
        lastReason = describeNetworkError(e);
        continue;
      }
    }
    await landVerified(url, partial, dest, options);
    return { status: 'ok', resumedFrom };
  }
  throw new OtaError('ERR_OTA_FETCH', `cannot download ${url} after ${retries + 1} attempts: ${lastReason}`, {
    hint: 'check the network and the source; the next run resumes from what was downloaded',
  });
}

/** A `file:` source (a local archive or a mounted mirror): copied, then checked like a download; a missing file is `missing`. */
async function copyLocal(url: string, partial: string, dest: string, options: DownloadOptions): Promise<DownloadResult> {
  let from;
  try {
    from = await open(fileURLToPath(url), 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    throw new OtaError('ERR_OTA_FETCH', `cannot read ${url}: ${(e as Error).message}`, { cause: e });
  }
  try {
    await pipeline(from.createReadStream({ autoClose: false }), countBytes(options.onBytes), createWriteStream(partial), { signal: options.signal });
  } catch (e) {
    await rm(partial, { force: true });
    if (options.signal?.aborted) throw e;
    throw new OtaError('ERR_OTA_FETCH', `cannot copy ${url}: ${(e as Error).message}`, { cause: e });
  } finally {
    await from.close();
  }
  await landVerified(url, partial, dest, options);
  return { status: 'ok', resumedFrom: 0 };
}

/** Moves `partial` to `dest` if its size and SHA256 are the lock's (after fsync); else removes it: ERR_OTA_HASH. */
async function landVerified(url: string, partial: string, dest: string, options: DownloadOptions): Promise<void> {
  const got = await hashFile(partial);
  if (got.size !== options.expectedSize || got.sha256 !== options.expectedSha256) {
    await rm(partial, { force: true });
    throw new OtaError('ERR_OTA_HASH', `${url} does not match the lock: SHA256 ${got.sha256} (${got.size} bytes), expected ${options.expectedSha256} (${options.expectedSize} bytes)`, {
      hint: 'the archive serves different bytes under this name; a mirror mid-sync, or the lock names a version the archive has replaced (add a fallback URI such as a snapshot archive)',
    });
  }
  const fh = await open(partial, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(partial, dest);
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: h.digest('hex') };
}

function countBytes(onBytes: ((n: number) => void) | undefined): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes?.(chunk.length);
      cb(null, chunk);
    },
  });
}
