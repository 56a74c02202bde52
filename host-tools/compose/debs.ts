import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { OtaError, withContext } from '../../common/errors.js';
import { silent, type EventSink } from '../../common/events.js';
import { downloadFile } from '../../common/http.js';
import { Repo, batch, commitTar, readDeb } from '../../node-ostree/index.js';
import { debControlRef, debDataRef, planDebs, type DebNeed, type LockedDeb } from './plan-debs.js';

/**
 * Makes sure every locked .deb is in the repository as two commits (data and control members,
 * keyed by the deb's SHA256): downloads what is missing into the cache (parallel, resumable,
 * SHA256-checked, with fallback URIs), then imports straight from memory, never unpacking to
 * disk. Each worker imports in one transaction, so an interrupted run leaves the repository
 * consistent and the next run picks up where it stopped.
 *
 * @example
 * const r = await ensureDebs(repo, packages, { cacheDir, jobs: 4 });
 * console.log(r.downloaded, r.imported, r.reused);
 */
export interface EnsureOptions {
  cacheDir: string;
  jobs?: number;
  fallbackUris?: string[];
  onEvent?: EventSink;
}

export interface EnsureResult {
  reused: number;
  imported: number;
  downloaded: number;
  downloadBytes: number;
}

export async function ensureDebs(repo: Repo, packages: LockedDeb[], options: EnsureOptions): Promise<EnsureResult> {
  const emit = options.onEvent ?? silent;
  const debDir = join(options.cacheDir, 'debs');
  await mkdir(debDir, { recursive: true });
  const refs = repo.listRefs('ota/deb');
  const cachePath = (sha: string) => join(debDir, `${sha}.deb`);
  const plan = planDebs(packages, { imported: (s) => refs.has(debDataRef(s)) && refs.has(debControlRef(s)), cached: (s) => existsSync(cachePath(s)) }, options.fallbackUris);
  const work = [...plan.importFromCache.map((d) => ({ d, download: false })), ...plan.download.map((d) => ({ d, download: true }))];
  const total = work.length;
  emit({ phase: 'fetch', message: `${plan.reuse.length} debs already imported, ${plan.importFromCache.length} in the cache, ${plan.download.length} to download` });
  const result: EnsureResult = { reused: plan.reuse.length, imported: 0, downloaded: 0, downloadBytes: 0 };
  if (total === 0) return result;

  let next = 0;
  let done = 0;
  const jobs = Math.max(1, Math.min(options.jobs ?? 4, total));
  const failures: unknown[] = [];
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      // A Repo object per worker: libostree allows one open transaction per object.
      const own = await Repo.open(repo.path);
      try {
        await batch(own, async () => {
          while (next < work.length && failures.length === 0) {
            const { d, download } = work[next++]!;
            try {
              if (download) {
                const bytes = await fetchDeb(d, cachePath(d.sha256));
                result.downloaded++;
                result.downloadBytes += bytes;
                emit({ phase: 'fetch', message: d.filename, bytes, current: ++done, total });
              } else {
                done++;
              }
              await importDeb(own, d, cachePath(d.sha256));
              result.imported++;
              emit({ phase: 'import', message: `${d.name} ${d.version}`, current: result.imported, total });
            } catch (e) {
              failures.push(withContext(e, `${d.name} ${d.version}`));
              throw failures[failures.length - 1];
            }
          }
        });
      } catch (e) {
        if (!failures.includes(e)) failures.push(e);
      } finally {
        own.close();
      }
    }),
  );
  if (failures.length > 0) throw failures[0];
  return result;
}

async function fetchDeb(d: DebNeed, dest: string): Promise<number> {
  // Another build sharing the cache may have landed it since the plan was made (import checks its hash).
  if (existsSync(dest)) return 0;
  for (const url of d.urls) {
    const r = await downloadFile(url, dest, { expectedSize: d.size, expectedSha256: d.sha256 });
    if (r.status === 'ok') return d.size - r.resumedFrom;
  }
  throw new OtaError('ERR_OTA_FETCH', `${d.filename} is on none of its sources (${d.urls.join(', ')})`, {
    hint: 'the archive no longer carries this version: add a fallback URI (a snapshot archive or local mirror) or run `ota lock --update`',
  });
}

async function importDeb(repo: Repo, d: DebNeed, path: string): Promise<void> {
  const bytes = await readFile(path);
  // The cache is trusted only as far as its bytes still match the lock.
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== d.sha256) {
    await rm(path, { force: true });
    throw new OtaError('ERR_OTA_HASH', `cached ${d.filename} has SHA256 ${sha}, the lock says ${d.sha256}; removed it`, { hint: 'run the build again to download it afresh' });
  }
  const deb = readDeb(bytes, d.filename);
  await commitTar(repo, deb.data.bytes, { ref: debDataRef(d.sha256), autocreateParents: true, source: `${d.filename} (${deb.data.name})` });
  await commitTar(repo, deb.control.bytes, { ref: debControlRef(d.sha256), source: `${d.filename} (${deb.control.name})` });
}
