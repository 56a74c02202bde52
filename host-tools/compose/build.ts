import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OtaError } from '../../common/errors.js';
import { silent, type EventSink } from '../../common/events.js';
import { fsReason } from '../../common/fs-errors.js';
import { defaultCacheDir } from '../apt/index-cache.js';
import { expandVars } from '../lock/sources.js';
import { defaultLockPath, lock as lockManifest, parseRootSpec } from '../lock/lock.js';
import { resolve } from '../lock/resolve.js';
import { readLock, type Lock } from '../lock/lockfile.js';
import { readLockText } from '../lock/read-lock-file.js';
import { refuseInconsistentLock } from '../lock/check.js';
import { inputProblems } from '../lock/check-inputs.js';
import { confinedDebPath, lockedLocalNames } from '../lock/local-debs.js';
import { loadManifest } from '../manifest/load.js';
import { readCommit, Repo } from '../../node-ostree/index.js';
import { refuseControlMismatch } from './deb-control.js';
import { proxyPolicy } from '../apt/apt-proxy.js';
import { loadBoard } from '../board/load.js';
import { buildImage, imageResult, type ImageBuild, type ImageDebs } from './build-image.js';
import { debStates, ensureDebs, nothingEnsured, type EnsureResult } from './debs.js';
import { planDebs } from './plan-debs.js';
import { debsToEnsure, planImage, splitBuilt, type ImagePlan, type PlanInput } from './plan.js';

export type { ImageBuild } from './build-image.js';
export { RECIPE_VERSION } from './plan.js';

/**
 * `ota build` as an API: lockfiles (or manifests, locked first) to deployable OSTree commits.
 * Debs are fetched and imported once for all images (their per-deb commits are shared), then
 * each image is unioned, configured and made deployable in parallel. Every image's result is
 * keyed by what it is built from (package SHA256s, architecture, timestamp, recipe version): a
 * rebuild with nothing changed finds that key's commit and does nothing else.
 *
 * @example
 * const [r] = await build({ inputs: ['image.yaml'], repoPath: 'repo' });
 * console.log(r.ref, r.checksum, r.noop);
 */
export interface BuildOptions {
  /** Manifests (image.yaml, locked first, as `ota lock` would) or lockfiles (image.lock). */
  inputs: string[];
  repoPath: string;
  /** Debs and archive indices (default: `$OTA_CACHE_DIR`, else `$XDG_CACHE_HOME/ota`, else `~/.cache/ota`, as `ota lock`). */
  cacheDir?: string;
  /** Parallel downloads/imports (default 4). */
  jobs?: number;
  /** Undeclared file conflicts between packages fail the build instead of warning. */
  strict?: boolean;
  /** More places to find debs the archives dropped, after each source's own `fallbacks`. */
  fallbackUris?: string[];
  offline?: boolean;
  /** Where manifests' `board` is looked up (default: the repository's boards/). */
  boardsDir?: string;
  env?: NodeJS.ProcessEnv;
  etcApt?: string;
  onEvent?: EventSink;
  /**
   * Stops the build: no new deb is taken (those imported are kept), a running stage 2 is killed
   * with its namespace and its work directory removed; the call rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

export interface BuildResult {
  images: ImageBuild[];
  debs: EnsureResult;
}

export async function build(options: BuildOptions): Promise<BuildResult> {
  const emit = options.onEvent ?? silent;
  const cacheDir = options.cacheDir ?? defaultCacheDir(options.env);
  if (options.inputs.length === 0) throw new OtaError('ERR_OTA_USAGE', 'nothing to build: give at least one image.yaml or image.lock');
  const plans = [];
  for (const input of options.inputs) plans.push(await loadPlan(input, { options, cacheDir, emit }));

  options.signal?.throwIfAborted();
  const repo = await openOrCreateRepo(options.repoPath);
  try {
    for (const p of plans) await refuseControlMismatch(repo, p.debs, p.lockPath);
    const { cached, todo } = splitBuilt(plans, repo.listRefs('ota/build'));
    const images = cached.map(({ plan, checksum }) => reuse(repo, plan, checksum, emit));
    let debs = nothingEnsured();
    if (todo.length > 0) {
      const need = debsToEnsure(todo);
      const plans = debPlans(todo, debStates(repo, cacheDir));
      const t0 = Date.now();
      // Debs from archives the lock took from apt's sources are fetched through apt's proxy, as apt would.
      const aptScope = todo.flatMap((p) => p.lock.header.sources.filter((s) => s.spec === 'host').map((s) => s.uri));
      const proxy = await proxyPolicy({ env: options.env ?? process.env, aptScope, etcApt: options.etcApt });
      debs = await ensureDebs(repo, need.debs, { cacheDir, jobs: options.jobs, fallbackUris: need.fallbacks, proxy, onEvent: emit, signal: options.signal });
      const fetchImport = (Date.now() - t0) / 1000;
      const ownDebs = debCounts(plans, new Set(debs.downloadedSha256));
      for (const p of todo) await refuseControlMismatch(repo, p.debs, p.lockPath);
      const ctx = { repoPath: options.repoPath, strict: options.strict === true, emit, signal: options.signal };
      const built = await allOrFirstError(todo.map(async (p) => buildImage(ctx, p)));
      images.push(...built.map((b) => ({ ...b, debs: ownDebs.get(b.input)!, seconds: { fetchImport, ...b.seconds } })));
    }
    return { images: options.inputs.map((i) => images.find((b) => b.input === i)!), debs };
  } finally {
    repo.close();
  }
}

/** Each image's own debs as ensureDebs plans them, made before it runs (the cache changes as it does). */
function debPlans(todo: ImagePlan[], state: Parameters<typeof planDebs>[1]): Map<string, ReturnType<typeof planDebs>> {
  return new Map(todo.map((p) => [p.input, planDebs(p.debs, state)]));
}

/**
 * What this run did with each image's own debs; `fetched` counts only what it downloaded
 * (`downloaded`): a deb another build sharing the cache landed meanwhile was imported from the cache.
 */
function debCounts(plans: Map<string, ReturnType<typeof planDebs>>, downloaded: Set<string>): Map<string, ImageDebs> {
  return new Map(
    [...plans].map(([input, plan]) => {
      const fetched = plan.download.filter((d) => downloaded.has(d.sha256)).length;
      return [input, { fetched, imported: plan.download.length + plan.importFromCache.length, reused: plan.reuse.length }];
    }),
  );
}

/**
 * Like Promise.all, but settles only when every image has: an image that failed (or was
 * interrupted) does not leave the others' stage 2 running, and their work directories, behind.
 */
async function allOrFirstError<T>(work: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(work);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/** An image whose exact build the repository holds: its ref moves there, nothing else happens. */
function reuse(repo: Repo, p: ImagePlan, checksum: string, emit: EventSink): ImageBuild {
  const meta = readCommit(repo, checksum).metadata;
  repo.setRef(p.ref, checksum);
  emit({ phase: 'build', image: p.ref, message: `${p.ref}: up to date (${checksum.slice(0, 12)})` });
  const k = meta.get('ostree.linux')?.value;
  const size = Number(meta.get('ota.size')?.value ?? 0);
  return imageResult(p, { checksum, size, noop: true, kernels: typeof k === 'string' ? [k] : [], conflicts: [], warnings: [], seconds: {} });
}

interface LoadContext {
  options: BuildOptions;
  cacheDir: string;
  emit: EventSink;
}

/** Reads what the plan of one input is made of (its lock, locked first for a manifest; its manifest's fallbacks; its board), then plans it. */
async function loadPlan(input: string, ctx: LoadContext): Promise<ImagePlan> {
  const { options, emit } = ctx;
  const isLock = input.endsWith('.lock');
  const manifestPath = isLock ? [input.replace(/\.lock$/, '.yaml'), input.replace(/\.lock$/, '.yml')].find((p) => existsSync(p)) : input;
  const lockPath = isLock ? input : defaultLockPath(input);
  if (!isLock) {
    emit({ phase: 'resolve', manifest: input, message: `locking ${input}` });
    await lockManifest({ manifestPath: input, lockPath, offline: options.offline, cacheDir: ctx.cacheDir, env: options.env, etcApt: options.etcApt, boardsDir: options.boardsDir, onEvent: emit });
  }
  let text: string;
  try {
    text = await readLockText(lockPath);
  } catch (e) {
    if (e instanceof OtaError) throw e;
    throw new OtaError('ERR_OTA_USAGE', `cannot read ${lockPath}: ${fsReason(e)}`, { hint: isLock ? 'check the path, or build the manifest (image.yaml) to lock it first' : undefined });
  }
  const lock = readLock(text, lockPath);
  const manifest = manifestPath ? (await loadManifest(manifestPath)).manifest : undefined;
  const env = options.env ?? process.env;
  const against = manifest && manifestPath ? await inputProblems(lock, { manifest, manifestPath, env, etcApt: options.etcApt, boardsDir: options.boardsDir, inferUnsetVars: true }) : [];
  refuseInconsistentLock(lock, { lockPath, manifestPath, manifest, inputProblems: against });
  const fallbacks = [
    ...(manifest?.sources ?? []).flatMap((s, i) => (s.fallbacks ?? []).map((f) => expandVars(f, env, `sources[${i}].fallbacks (${manifestPath})`))),
    ...(options.fallbackUris ?? []),
  ];
  const boardParts = lock.header.board ? await loadBoardParts(lock, options.boardsDir) : undefined;
  const lockSha256 = createHash('sha256').update(text).digest('hex');
  const localUrl = await localDebsUrl(lock, dirname(manifestPath ?? lockPath));
  return planImage({ input, lockPath, lock, lockSha256, fallbacks, boardName: manifest?.board, boardParts, localUrl });
}

/**
 * The `file:` URL of the folder a lock's local debs are in, once each is found there (inside it
 * after symlinks; the download then checks its size and SHA256 against the lock).
 */
async function localDebsUrl(lock: Lock, dir: string): Promise<string | undefined> {
  const names = lockedLocalNames(lock);
  if (names.length === 0) return undefined;
  for (const n of names) await confinedDebPath(dir, lock.packages.get(n)!.filename!, 'ERR_OTA_LOCKFILE');
  return pathToFileURL(await realpath(dir)).href;
}

/** With a board: the image's own closure (resolved again from the lock alone, without the board's packages) and the modules its root needs. */
async function loadBoardParts(lock: Lock, boardsDir: string | undefined): Promise<PlanInput['boardParts']> {
  const { board: def } = await loadBoard(lock.header.board!.name, boardsDir);
  const rootFs = def.disk.partitions.find((x) => x.role === 'root')?.fs ?? 'ext4';
  const own = resolve(lock.universe, {
    roots: [...lock.header.requested, ...lockedLocalNames(lock)].map(parseRootSpec),
    variant: lock.header.variant === 'minbase' ? 'minbase' : 'none',
    exclude: lock.header.exclude,
    recommends: lock.header.recommends,
  }).selected;
  return { ownNames: new Set(own.keys()), rootModules: [...def.kernel.rootModules, rootFs] };
}

async function openOrCreateRepo(path: string): Promise<Repo> {
  if (existsSync(join(path, 'config'))) return Repo.open(path);
  // As root (which stage 2 needs) a bare repository keeps real owners and modes, so the
  // hardlinked checkout is exact; bare-user is what a non-root user can have.
  return Repo.create(path, process.getuid?.() === 0 ? 'bare' : 'bare-user');
}
