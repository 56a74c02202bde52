import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OtaError } from './errors.js';
import { attempt, describeNetworkError, exhaustedHint, sleep } from './http-request.js';
import { openRegular } from './local-file.js';
import { PartialFile } from './partial-file.js';
import type { ProxyPolicy } from './proxy.js';

/**
 * Downloads `url` to `dest`, into a partial file of this process's own (see `partial-file.ts`:
 * safe when several processes share the cache), hashing on the way. What an earlier run left is
 * resumed with an HTTP Range request (a server that ignores Range simply sends it all again);
 * transient failures are retried, resuming each time. Only a file whose size and SHA256 match
 * lands at `dest` (renamed after fsync). When a resumed file does not match, the old bytes were
 * the damaged part, not the archive's: the download starts over once before a mismatch is
 * ERR_OTA_HASH. A 404 returns `{ status: 'missing' }`, so callers can try the next URI. A `file:`
 * URL (a local archive) is copied and checked the same way; a missing file is `missing`.
 *
 * @example
 * await downloadFile(`${uri}/${filename}`, `${cache}/${sha256}.deb`, { expectedSize: size, expectedSha256: sha256 });
 */
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

export async function downloadFile(url: string, dest: string, options: DownloadOptions): Promise<DownloadResult> {
  const part = await PartialFile.claim(dest);
  try {
    const r = url.startsWith('file:') ? await copyLocal(url, part, options) : await download(url, part, options);
    // Nothing here: what was downloaded so far serves the next URI (the same bytes by hash).
    if (r.status === 'missing') await part.release();
    return r;
  } catch (e) {
    await part.release();
    throw e;
  }
}

async function download(url: string, part: PartialFile, options: DownloadOptions): Promise<DownloadResult> {
  const retries = options.retries ?? 3;
  let lastReason = '';
  let lastProxy: string | undefined;
  let restarted = false;
  for (let n = 0; n <= retries; n++) {
    if (n > 0) await sleep((options.backoffMs ?? 500) * 2 ** (n - 1));
    let have = await part.size();
    if (have > options.expectedSize) {
      await part.discard();
      have = 0;
    }
    const headers: Record<string, string> = have > 0 ? { Range: `bytes=${have}-` } : {};
    // 416: our partial file is already as long as the server's; it is verified as it is.
    const a = await attempt(url, { timeoutMs: options.timeoutMs ?? 300_000, signal: options.signal, headers, accept: [416], proxy: options.proxy });
    if (a.kind === 'retry') {
      lastReason = a.reason;
      lastProxy = a.proxy;
      continue;
    }
    if (a.kind === 'missing') return { status: 'missing' };
    const resumed = have > 0 && (a.res.status === 206 || a.res.status === 416);
    if (a.res.status === 416) {
      await a.res.body.dump();
    } else {
      try {
        await pipeline(a.res.body, countBytes(options.onBytes), createWriteStream(part.path, { flags: resumed ? 'a' : 'w' }));
      } catch (e) {
        if (options.signal?.aborted) throw e;
        lastReason = describeNetworkError(e);
        continue;
      }
    }
    const got = await landIfVerified(part, options);
    if (got === 'landed') return { status: 'ok', resumedFrom: resumed ? have : 0 };
    if (!resumed || restarted) throw mismatch(url, got, options);
    restarted = true;
    n--;
  }
  throw new OtaError('ERR_OTA_FETCH', `cannot download ${url} after ${retries + 1} attempts: ${lastReason}`, {
    hint: exhaustedHint(lastProxy, 'the next run resumes from what was downloaded'),
  });
}

/**
 * A `file:` source (a local archive or a mounted mirror): copied, then checked like a download; a
 * missing file is `missing`. Only a regular file is read (`local-file.ts`), and at most one byte
 * more than the lock's size: enough to see that it is longer.
 */
async function copyLocal(url: string, part: PartialFile, options: DownloadOptions): Promise<DownloadResult> {
  const from = await openRegular(url);
  if (!from) return { status: 'missing' };
  try {
    const source = from.createReadStream({ autoClose: false, start: 0, end: options.expectedSize });
    await pipeline(source, countBytes(options.onBytes), createWriteStream(part.path), { signal: options.signal });
  } catch (e) {
    await part.discard();
    if (options.signal?.aborted) throw e;
    throw new OtaError('ERR_OTA_FETCH', `cannot copy ${url}: ${(e as Error).message}`, { cause: e });
  } finally {
    await from.close();
  }
  const got = await landIfVerified(part, options);
  if (got !== 'landed') throw mismatch(url, got, options);
  return { status: 'ok', resumedFrom: 0 };
}

interface Digest {
  size: number;
  sha256: string;
}

/** Lands the partial file at its destination (after fsync) if its size and SHA256 are the lock's; else removes it and says what it was. */
async function landIfVerified(part: PartialFile, options: DownloadOptions): Promise<'landed' | Digest> {
  const got = await hashFile(part.path);
  if (got.size !== options.expectedSize || got.sha256 !== options.expectedSha256) {
    await part.discard();
    return got;
  }
  const fh = await open(part.path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await part.land();
  return 'landed';
}

function mismatch(url: string, got: Digest, options: DownloadOptions): OtaError {
  return new OtaError('ERR_OTA_HASH', `${url} does not match the lock: SHA256 ${got.sha256} (${got.size} bytes), expected ${options.expectedSha256} (${options.expectedSize} bytes)`, {
    hint: 'the archive serves different bytes under this name; a mirror mid-sync, or the lock names a version the archive has replaced (add a fallback URI such as a snapshot archive)',
  });
}

async function hashFile(path: string): Promise<Digest> {
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
