import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { C, koffi, type Ptr } from './ffi/libs.js';
import { callAsync, check, errorOut, takeString, unref } from './ffi/call.js';
import { gvText, variantFromText } from './ffi/variant-text.js';
import { OstreeError } from './errors.js';
import type { Repo } from './repo.js';

/**
 * Moving commits between repositories: pull from a local repository or an HTTP(S) one (static
 * files: any web server, CDN or bucket), by ref or by checksum, with progress and cancellation;
 * static deltas and the summary file that advertises them.
 *
 * @example
 * await pull(repo, 'http://127.0.0.1:8080/repo', { refs: ['gateway/arm64'], onProgress: (p) => console.log(p.bytes) });
 */
export interface PullProgress {
  /** Objects fetched / requested so far. */
  fetched: number;
  requested: number;
  /** Metadata objects fetched. */
  metadataFetched: number;
  /** Static delta parts fetched / in total (0 when no delta is used). */
  deltaPartsFetched: number;
  deltaPartsTotal: number;
  bytes: number;
}

export interface PullOptions {
  /** Refs to pull (they are created locally), or commit checksums (pulled without a ref). */
  refs: string[];
  /** Also pull this many parent commits (default 0; -1 for all). */
  depth?: number;
  disableStaticDeltas?: boolean;
  /** Mirror mode: keep the source's ref names exactly (for archive mirrors). */
  mirror?: boolean;
  onProgress?: (p: PullProgress) => void;
  /** Interval between progress reports in ms (default 200). */
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Pulls from `source`: a configured remote's name, an http(s):// URL (a remote named after the
 * URL is added for it, since libostree pulls over HTTP only through remotes), or a local
 * repository path / file:// URL.
 */
export async function pull(repo: Repo, source: string, options: PullOptions): Promise<PullProgress> {
  let url: string;
  if (/^https?:\/\//.test(source)) {
    url = `ota-${createHash('sha256').update(source).digest('hex').slice(0, 16)}`;
    if (!listRemotes(repo).includes(url)) await addRemote(repo, url, source);
  } else if (/^file:\/\//.test(source) || source.includes('/') || source === '.' || (!listRemotes(repo).includes(source) && existsSync(source))) {
    // A plain word is a remote when one has that name, else a repository in that directory.
    url = source.startsWith('file://') ? source : pathToFileURL(resolvePath(source)).href;
  } else {
    url = source;
  }
  if (options.refs.length === 0) throw new OstreeError('pulling', source, 'ota', 0, 'nothing to pull: give at least one ref or checksum');
  const opts = variantFromText(
    gvText.dict({
      refs: gvText.strings(options.refs),
      depth: `int32 ${options.depth ?? 0}`,
      flags: `int32 ${options.mirror ? 1 : 0}`,
      'disable-static-deltas': gvText.bool(options.disableStaticDeltas ?? false),
      // The trust for what is pulled comes from a verified release manifest naming the checksum
      // (or from ed25519 commit signatures checked by the caller); GPG is optional in ota.
      'gpg-verify': 'false',
      'gpg-verify-summary': 'false',
    }),
  );
  const progress = C.ostree_async_progress_new();
  const cancellable = C.g_cancellable_new();
  const onAbort = () => C.g_cancellable_cancel(cancellable);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const report = () => {
    const p = readProgress(progress);
    options.onProgress?.(p);
    return p;
  };
  const timer = options.onProgress ? setInterval(report, options.progressIntervalMs ?? 200) : undefined;
  try {
    if (options.signal?.aborted) onAbort();
    const err = errorOut();
    const ok = await callAsync(C.ostree_repo_pull_with_options, repo.ptr, url, opts, progress, cancellable, err);
    check(ok, err, `pulling ${options.refs.join(', ')}`, source);
    C.ostree_async_progress_finish(progress);
    return report();
  } finally {
    if (timer) clearInterval(timer);
    options.signal?.removeEventListener('abort', onAbort);
    C.g_variant_unref(opts);
    unref(progress, cancellable);
  }
}

function readProgress(progress: Ptr): PullProgress {
  const u = (key: string, wide = false): number => {
    const v = C.ostree_async_progress_get_variant(progress, key);
    if (!v) return 0;
    try {
      return Number(wide ? C.g_variant_get_uint64(v) : C.g_variant_get_uint32(v));
    } finally {
      C.g_variant_unref(v);
    }
  };
  return {
    fetched: u('fetched'),
    requested: u('requested'),
    metadataFetched: u('metadata-fetched'),
    deltaPartsFetched: u('fetched-delta-parts'),
    deltaPartsTotal: u('total-delta-parts'),
    bytes: u('bytes-transferred', true),
  };
}

export interface DeltaOptions {
  /** The commit the device has; omit for a "from scratch" delta. */
  from?: string;
  to: string;
  /** Objects larger than this (bytes, uncompressed) are fetched separately instead of inside the delta (ostree's default 4 MB; 0: never, everything goes into the parts). */
  minFallbackSizeBytes?: number;
  /** Delta parts of at most this size (ostree's default 32 MB). */
  maxPartSizeBytes?: number;
  /** Spend more time for smaller deltas (bsdiff between versions of files). */
  major?: boolean;
  /** Send a changed file as a bsdiff against its previous version (ostree's default true). */
  bsdiff?: boolean;
  /** Files whose old plus new size exceeds this are sent whole rather than bsdiffed (ostree's default 128 MB). */
  maxBsdiffSizeBytes?: number;
}

/** Generates a static delta into the repository's deltas/ directory. */
export async function generateDelta(repo: Repo, options: DeltaOptions): Promise<void> {
  const from = options.from ? repo.resolve(options.from) : null;
  const to = repo.resolve(options.to);
  const params: Record<string, string> = {};
  // ostree reads these two parameters in units of 10^6 bytes.
  if (options.minFallbackSizeBytes !== undefined) params['min-fallback-size'] = gvText.uint32(Math.ceil(options.minFallbackSizeBytes / 1e6));
  if (options.maxPartSizeBytes !== undefined) params['max-chunk-size'] = gvText.uint32(Math.ceil(options.maxPartSizeBytes / 1e6));
  if (options.maxBsdiffSizeBytes !== undefined) params['max-bsdiff-size'] = gvText.uint32(Math.ceil(options.maxBsdiffSizeBytes / 1e6));
  if (options.bsdiff !== undefined) params['bsdiff-enabled'] = gvText.bool(options.bsdiff);
  const v = variantFromText(gvText.dict(params));
  try {
    const err = errorOut();
    const ok = await callAsync(C.ostree_repo_static_delta_generate, repo.ptr, options.major ? 1 : 0, from, to, null, v, null, err);
    check(ok, err, `generating a static delta ${from ? from.slice(0, 12) : 'from scratch'} -> ${to.slice(0, 12)}`, repo.path);
  } finally {
    C.g_variant_unref(v);
  }
}

/** OSTree's "modified base64" of a checksum: base64 without padding, '/' written as '_'. */
function modifiedBase64(checksum: string): string {
  return Buffer.from(checksum, 'hex').toString('base64').replace(/=+$/, '').replace(/\//g, '_');
}

/**
 * Where a repository keeps the static delta from -> to (`from` null: from scratch), relative to
 * the repository: its `superblock` and parts 0, 1, ... are there, on a server too. A device that
 * fetches them itself and applies them with {@link applyDeltaOffline} downloads just the delta
 * (libostree 2022.7's pull also fetches objects alone while it applies one).
 *
 * @example
 * const url = `${base}/${staticDeltaPath(booted, target)}/superblock`;
 */
export function staticDeltaPath(from: string | null, to: string): string {
  const t = modifiedBase64(to);
  if (!from) return `deltas/${t.slice(0, 2)}/${t.slice(2)}`;
  const f = modifiedBase64(from);
  return `deltas/${f.slice(0, 2)}/${f.slice(2)}-${t}`;
}

/** Applies a static delta from a directory or file (e.g. copied from a USB stick), without a network. */
export async function applyDeltaOffline(repo: Repo, path: string, options: { skipValidation?: boolean } = {}): Promise<void> {
  const file = C.g_file_new_for_path(resolvePath(path));
  try {
    const err = errorOut();
    const ok = await callAsync(C.ostree_repo_static_delta_execute_offline, repo.ptr, file, options.skipValidation ? 1 : 0, null, err);
    check(ok, err, 'applying a static delta', path);
  } finally {
    unref(file);
  }
}

/** Rewrites the summary file (refs, and the static deltas clients may use). */
export async function regenerateSummary(repo: Repo): Promise<void> {
  const err = errorOut();
  check(await callAsync(C.ostree_repo_regenerate_summary, repo.ptr, null, null, err), err, 'regenerating the summary', repo.path);
}

export interface RemoteOptions {
  /** Verify commits with GPG (needs the remote's keys imported); default false: ota trusts commits through signed release manifests and ed25519 commit signatures. */
  gpgVerify?: boolean;
  /** Replace an existing remote of that name (default: fail if it exists with another URL). */
  replace?: boolean;
}

/** Adds a remote to the repository's config (what a device pulls its updates from). */
export async function addRemote(repo: Repo, name: string, url: string, options: RemoteOptions = {}): Promise<void> {
  const v = variantFromText(gvText.dict({ 'gpg-verify': gvText.bool(options.gpgVerify ?? false), 'gpg-verify-summary': gvText.bool(options.gpgVerify ?? false) }));
  try {
    const err = errorOut();
    const op = options.replace ? 4 : 0;
    check(await callAsync(C.ostree_repo_remote_change, repo.ptr, null, op, name, url, v, null, err), err, `adding remote ${name} (${url})`, repo.path);
  } finally {
    C.g_variant_unref(v);
  }
}

export async function deleteRemote(repo: Repo, name: string): Promise<void> {
  const err = errorOut();
  check(await callAsync(C.ostree_repo_remote_change, repo.ptr, null, 2, name, null, null, null, err), err, `deleting remote ${name}`, repo.path);
}

export function listRemotes(repo: Repo): string[] {
  const n = [0];
  const strv = C.ostree_repo_remote_list(repo.ptr, n);
  if (!strv || n[0] === 0) return [];
  try {
    return (koffi.decode(strv, koffi.array('char *', n[0]!)) as string[]).slice().sort();
  } finally {
    C.g_strfreev(strv);
  }
}

export function remoteUrl(repo: Repo, name: string): string {
  const out: Ptr[] = [null];
  const err = errorOut();
  check(C.ostree_repo_remote_get_url(repo.ptr, name, out, err), err, `reading the URL of remote ${name}`, repo.path);
  return takeString(out[0])!;
}
