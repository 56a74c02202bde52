import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { OtaError, withContext } from '../../common/errors.js';
import { silent, type EventSink } from '../../common/events.js';
import { downloadFile } from '../../common/http.js';
import type { ProxyPolicy } from '../../common/proxy.js';
import { Repo, batch, commitTar, readDeb } from '../../node-ostree/index.js';
import { debControlRef, debDataRef, planDebs, type DebNeed, type LockedDeb } from './plan-debs.js';

/**
 * Makes sure every locked .deb is in the repository as two commits (data and control members,
 * keyed by the deb's SHA256): downloads what is missing into the cache (parallel, resumable,
 * SHA256-checked, with fallback URIs), then imports straight from memory, never unpacking to
 * disk. Each worker imports in transactions of a few seconds (or BATCH_DEBS debs) each, and
 * commits the one it has open before it waits on the network, on a failure and on `signal`: a
 * run killed part way keeps what it imported up to its last commit, and the next run picks up
 * from there.
 *
 * @example
 * const r = await ensureDebs(repo, packages, { cacheDir, jobs: 4 });
 * console.log(r.downloaded, r.imported, r.reused);
 */
export interface EnsureOptions {
  cacheDir: string;
  jobs?: number;
  fallbackUris?: string[];
  /** Default: the proxy variables of the environment (see `common/proxy.ts`). */
  proxy?: ProxyPolicy;
  onEvent?: EventSink;
  /** Stops taking new debs (what is imported is committed), ends downloads, and rejects. */
  signal?: AbortSignal;
  /** Debs per transaction at most (default BATCH_DEBS). */
  batchDebs?: number;
}

export interface EnsureResult {
  reused: number;
  imported: number;
  /** Debs this run downloaded; one another build sharing the cache landed meanwhile is imported from the cache, not counted here. */
  downloaded: number;
  downloadBytes: number;
  /** The SHA256s of the debs counted in `downloaded`, for per-image counts. */
  downloadedSha256: string[];
}

/** What a run that has nothing to fetch or import returns. */
export function nothingEnsured(reused = 0): EnsureResult {
  return { reused, imported: 0, downloaded: 0, downloadBytes: 0, downloadedSha256: [] };
}

/**
 * A transaction per deb would sync the repository a hundred times per image; one per worker
 * loses everything to a kill. A commit every few seconds bounds what a kill loses to that.
 */
export const BATCH_DEBS = 32;
const BATCH_MS = 3000;

interface Item {
  d: DebNeed;
  download: boolean;
}

/** The work the workers share: they take items in order and count into one result. */
interface Queue {
  items: Item[];
  next: number;
  done: number;
  failures: unknown[];
  result: EnsureResult;
  cachePath: (sha: string) => string;
  options: EnsureOptions;
}

/** Where each deb stands before a run: its commits in the repository, or its file in the download cache. */
export function debStates(repo: Repo, cacheDir: string): { imported: (sha256: string) => boolean; cached: (sha256: string) => boolean } {
  const refs = repo.listRefs('ota/deb');
  return {
    imported: (s) => refs.has(debDataRef(s)) && refs.has(debControlRef(s)),
    cached: (s) => existsSync(join(cacheDir, 'debs', `${s}.deb`)),
  };
}

export async function ensureDebs(repo: Repo, packages: LockedDeb[], options: EnsureOptions): Promise<EnsureResult> {
  const emit = options.onEvent ?? silent;
  const debDir = join(options.cacheDir, 'debs');
  await mkdir(debDir, { recursive: true });
  const cachePath = (sha: string) => join(debDir, `${sha}.deb`);
  const plan = planDebs(packages, debStates(repo, options.cacheDir), options.fallbackUris);
  const items = [...plan.importFromCache.map((d) => ({ d, download: false })), ...plan.download.map((d) => ({ d, download: true }))];
  emit({ phase: 'fetch', message: `${plan.reuse.length} debs already imported, ${plan.importFromCache.length} in the cache, ${plan.download.length} to download` });
  const result = nothingEnsured(plan.reuse.length);
  if (items.length === 0) return result;
  const q: Queue = { items, next: 0, done: 0, failures: [], result, cachePath, options };
  const jobs = Math.max(1, Math.min(options.jobs ?? 4, items.length));
  await Promise.all(Array.from({ length: jobs }, () => worker(repo.path, q)));
  if (q.failures.length > 0) throw q.failures[0];
  options.signal?.throwIfAborted();
  return result;
}

function more(q: Queue): boolean {
  return q.next < q.items.length && q.failures.length === 0 && !q.options.signal?.aborted;
}

async function worker(repoPath: string, q: Queue): Promise<void> {
  // A Repo object per worker: libostree allows one open transaction per object.
  const own = await Repo.open(repoPath);
  try {
    while (more(q)) await batch(own, () => importBatch(own, q));
  } catch (e) {
    if (!q.failures.includes(e)) q.failures.push(e);
  } finally {
    own.close();
  }
}

/**
 * One transaction's worth of debs. It ends (and is committed) after BATCH_MS or `batchDebs`
 * debs, before a download once it holds an import, and after a failure, which it records
 * instead of throwing so that what it imported before is kept.
 */
async function importBatch(own: Repo, q: Queue): Promise<void> {
  const emit = q.options.onEvent ?? silent;
  const started = Date.now();
  const limit = q.options.batchDebs ?? BATCH_DEBS;
  let n = 0;
  while (more(q) && n < limit && Date.now() - started < BATCH_MS) {
    if (n > 0 && q.items[q.next]!.download) return;
    const { d, download } = q.items[q.next++]!;
    try {
      if (download) {
        const bytes = await fetchAndCount(d, q);
        emit({ phase: 'fetch', message: bytes === undefined ? `${d.filename} (in the cache)` : d.filename, bytes: bytes ?? 0, current: ++q.done, total: q.items.length });
      } else {
        q.done++;
      }
      const refetch = async () => void (await fetchAndCount(d, q));
      await importDeb(own, d, q.cachePath(d.sha256), refetch);
      n++;
      q.result.imported++;
      emit({ phase: 'import', message: `${d.name} ${d.version}`, current: q.result.imported, total: q.items.length });
    } catch (e) {
      q.failures.push(q.options.signal?.aborted ? q.options.signal.reason : withContext(e, `${d.name} ${d.version}`));
      return;
    }
  }
}

/** Fetches a deb into the cache and counts it as downloaded, unless it was there already: then `undefined`. */
async function fetchAndCount(d: DebNeed, q: Queue): Promise<number | undefined> {
  const bytes = await fetchDeb(d, q.cachePath(d.sha256), q.options);
  if (bytes === undefined) return undefined;
  q.result.downloaded++;
  q.result.downloadBytes += bytes;
  q.result.downloadedSha256.push(d.sha256);
  return bytes;
}

async function fetchDeb(d: DebNeed, dest: string, options: Pick<EnsureOptions, 'signal' | 'proxy'>): Promise<number | undefined> {
  // Another build sharing the cache may have landed it since the plan was made (import checks its
  // hash): that deb was found in the cache, not fetched, and the counts say so.
  if (existsSync(dest)) return undefined;
  for (const url of d.urls) {
    const r = await downloadFile(url, dest, { expectedSize: d.size, expectedSha256: d.sha256, signal: options.signal, proxy: options.proxy });
    if (r.status === 'ok') return d.size - r.resumedFrom;
  }
  throw new OtaError('ERR_OTA_FETCH', `${d.filename} is on none of its sources (${d.urls.join(', ')})`, {
    hint: 'the archive no longer carries this version: add a fallback URI (a snapshot archive or local mirror) or run `ota lock --update`',
  });
}

/** Imports the cached deb at `path`; a copy that no longer matches the lock is removed and fetched again, once. */
async function importDeb(repo: Repo, d: DebNeed, path: string, refetch: () => Promise<void>): Promise<void> {
  let bytes = await readFile(path);
  // The cache is trusted only as far as its bytes still match the lock.
  if (sha256(bytes) !== d.sha256) {
    await rm(path, { force: true });
    await refetch();
    bytes = await readFile(path);
    const sha = sha256(bytes);
    if (sha !== d.sha256) {
      await rm(path, { force: true });
      throw new OtaError('ERR_OTA_HASH', `cached ${d.filename} has SHA256 ${sha}, the lock says ${d.sha256}; removed it`, { hint: 'run the build again to download it afresh' });
    }
  }
  const deb = readDeb(bytes, d.filename);
  await commitTar(repo, deb.data.bytes, { ref: debDataRef(d.sha256), autocreateParents: true, source: `${d.filename} (${deb.data.name})` });
  await commitTar(repo, deb.control.bytes, { ref: debControlRef(d.sha256), source: `${d.filename} (${deb.control.name})` });
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
