import { OtaError, withContext } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { silent, type EventSink } from '../../common/events.js';
import { proxyPolicy } from '../apt/apt-proxy.js';
import { IndexCache, defaultCacheDir } from '../apt/index-cache.js';
import type { PackagesIndex } from '../apt/packages-index.js';
import { loadIndices, loadRelease, type LoadOptions } from '../apt/suite.js';
import { loadManifest, type LoadedManifest } from '../manifest/load.js';
import { boardPackages } from '../board/packages.js';
import { boardInitProblem } from '../board/init.js';
import { loadBoard } from '../board/load.js';
import { planBoardComponents, type BoardComponents } from './board-components.js';
import { expandSources } from './sources.js';
import { Universe, type Origin } from './universe.js';
import { resolve, type Resolution, type RootSpec } from './resolve.js';
import { diffLocks, formatLock, headerFor, readLock, type Lock, type LockDiff, type LockSource } from './lockfile.js';
import { readLockText } from './read-lock-file.js';
import { localIndex, localRoots, readLocalDebs, type LocalDeb } from './local-debs.js';
import { fsReason } from '../../common/fs-errors.js';
import { dirname, resolve as resolvePath } from 'node:path';

/**
 * `ota lock` as an API: manifest in, lockfile out.
 *
 * @example
 * const r = await lock({ manifestPath: 'image.yaml' });
 * console.log(r.lockPath, r.packages, r.diff);
 */
export interface LockOptions {
  manifestPath: string;
  /** Default: the manifest's path with `.yaml`/`.yml` replaced by `.lock`. */
  lockPath?: string;
  /** Re-resolve from the newest indices, ignoring the versions already locked. */
  update?: boolean;
  /** Use only cached indices; fetch nothing. */
  offline?: boolean;
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
  etcApt?: string;
  /** Where the manifest's `board` is looked up (default: the repository's boards/). */
  boardsDir?: string;
  onEvent?: EventSink;
}

export interface LockResult {
  lockPath: string;
  text: string;
  packages: number;
  /** Whether the file was (re)written; false when it was already up to date. */
  written: boolean;
  /** Against the previous lock, when there was one. */
  diff: LockDiff | undefined;
  resolution: Resolution | undefined;
  downloadBytes: number;
}

export function defaultLockPath(manifestPath: string): string {
  return manifestPath.replace(/\.ya?ml$/, '') + '.lock';
}

export async function lock(options: LockOptions): Promise<LockResult> {
  const emit = options.onEvent ?? silent;
  const loaded = await loadManifest(options.manifestPath);
  const lockPath = options.lockPath ?? defaultLockPath(options.manifestPath);
  const previous = await readExistingLock(lockPath, options.update === true, (message) => emit({ phase: 'lock', manifest: options.manifestPath, level: 'warning', message }));

  const board = loaded.manifest.board ? await boardPart(loaded.manifest.board, options.boardsDir) : undefined;
  const local = await localDebsOf(loaded, lockPath);
  // A lock made from these exact manifest (and board, and local deb) bytes is kept as it is: nothing to fetch (npm ci's rule).
  if (previous && !options.update && previous.header.manifestSha256 === loaded.sha256 && previous.header.board?.sha256 === board?.sha256 && sameLocalDebs(previous, local)) {
    emit({ phase: 'lock', manifest: options.manifestPath, message: `${lockPath} is up to date with ${options.manifestPath}` });
    return { lockPath, text: previous.text, packages: previous.packages.size, written: false, diff: undefined, resolution: undefined, downloadBytes: 0 };
  }

  const { universe, sources, downloadBytes } = await loadUniverse(loaded, { ...options, local }, board);
  emit({ phase: 'resolve', manifest: options.manifestPath, message: `resolving ${loaded.manifest.packages.length} packages${loaded.manifest.variant === 'minbase' ? ' + minbase' : ''} for ${loaded.manifest.arch}` });
  const prefer = previous && !options.update ? new Map([...previous.packages].map(([n, c]) => [n, c.version])) : undefined;
  let resolution: Resolution;
  try {
    resolution = resolve(universe, {
      // The board's packages come after the image's: a kernel's `initramfs-tools | linux-initramfs-tool` is then met by the board's dracut.
      roots: [...loaded.manifest.packages, ...localRoots(local), ...(board?.packages ?? [])].map(parseRootSpec),
      variant: loaded.manifest.variant,
      exclude: loaded.manifest.exclude,
      recommends: loaded.manifest.recommends,
      prefer,
    });
  } catch (e) {
    throw withContext(e, `locking ${options.manifestPath}`);
  }
  const init = board ? boardInitProblem(board.name, (n) => resolution.selected.has(n)) : undefined;
  if (init) throw new OtaError('ERR_OTA_MANIFEST', `${options.manifestPath}: ${init}`, { hint: 'a board boots images that run systemd; nothing was written' });
  const seed = loaded.manifest.variant === 'minbase' ? resolution.roots.filter((n) => resolution.reasons.get(n)?.kind !== 'requested') : undefined;
  const text = formatLock(headerFor(loaded.manifest, loaded.sha256, sources, { board, seed }), resolution.selected.values());
  const diff = previous ? diffLocks(previous.packages, resolution.selected) : undefined;
  const written = previous?.text !== text;
  if (written) await writeFileAtomic(lockPath, text);
  return { lockPath, text, packages: resolution.selected.size, written, diff, resolution, downloadBytes };
}

/** `name`, `name=version`, `name/suite`, optionally `name:arch`. */
export function parseRootSpec(spec: string): RootSpec {
  const m = /^([^:=/]+)(?::([^=/]+))?(?:=(.+)|\/(.+))?$/.exec(spec);
  if (!m) throw new Error(`package spec "${spec}" passed the schema but does not parse, this is a bug`);
  const out: RootSpec = { name: m[1]! };
  if (m[2]) out.archQualifier = m[2];
  if (m[3]) out.version = m[3];
  if (m[4]) out.suite = m[4];
  return out;
}

interface ExistingLock extends Lock {
  text: string;
}

async function readExistingLock(path: string, update: boolean, warn: (message: string) => void): Promise<ExistingLock | undefined> {
  let text: string;
  try {
    text = await readLockText(path);
  } catch (e) {
    if (e instanceof OtaError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OtaError('ERR_OTA_LOCKFILE', `cannot read ${path}: ${fsReason(e)}`);
  }
  try {
    return { ...readLock(text, path), text };
  } catch (e) {
    // --update resolves afresh, so a lock of ours that this ota cannot read (another lockfile
    // version, merge-conflict markers) is replaced, as readLock's hint says. A file with no
    // Lockfile-Version header at all may be anything, and is never overwritten.
    if (update && e instanceof OtaError && e.code === 'ERR_OTA_LOCKFILE' && /^Lockfile-Version:/m.test(text)) {
      warn(`${e.message}; it is replaced by a fresh lock`);
      return undefined;
    }
    throw e;
  }
}

/**
 * Fetches (or reads from cache) every suite the manifest names and builds the universe: first
 * every suite's InRelease, then the plan of which components to read (the sources' own, plus the
 * board's `firmware.components` where a suite's Release offers them), then those Packages indices.
 */
export async function loadUniverse(
  loaded: LoadedManifest,
  options: Pick<LockOptions, 'offline' | 'cacheDir' | 'env' | 'etcApt' | 'onEvent'> & { local?: LocalDeb[] },
  board?: BoardComponents,
): Promise<{ universe: Universe; sources: LockSource[]; downloadBytes: number }> {
  const emit = options.onEvent ?? silent;
  const { manifest } = loaded;
  const suites = await expandSources(manifest, loaded.path, { env: options.env, etcApt: options.etcApt });
  const cache = new IndexCache(options.cacheDir ?? defaultCacheDir(options.env));
  let downloadBytes = 0;
  const loadOptions: LoadOptions = {
    cache,
    offline: options.offline,
    proxy: options.offline ? undefined : await proxyPolicy({ env: options.env ?? process.env, aptScope: suites.filter((s) => s.fromHost).map((s) => s.uri), etcApt: options.etcApt }),
    onEvent: (e) => {
      if (e.kind === 'fetched') {
        downloadBytes += e.bytes;
        emit({ phase: 'fetch', message: `fetched ${e.url}`, url: e.url, bytes: e.bytes });
      } else if (e.kind === 'warning') emit({ phase: 'fetch', message: e.message, level: 'warning' });
    },
  };
  const releases = await allOrFirstError(
    suites.map(async (s, i) => {
      emit({ phase: 'fetch', message: `${s.uri} ${s.suite}`, current: i + 1, total: suites.length });
      try {
        return await loadRelease(s, loadOptions);
      } catch (e) {
        throw withContext(e, s.label);
      }
    }),
  );
  const components = board && board.components.length > 0
    ? planBoardComponents(suites, releases.map((r) => r.release), board, manifest.arch, loaded.path)
    : suites.map((s) => s.components);
  const loadedIndices = await allOrFirstError(
    suites.map(async (s, i) => {
      try {
        return await loadIndices(releases[i]!, components[i]!, manifest.arch, loadOptions);
      } catch (e) {
        // A host source that simply lacks this architecture (a vendor repo for amd64 only) is skipped, as apt skips it.
        if (s.fromHost && e instanceof OtaError && e.code === 'ERR_OTA_INDEX' && /lists no Packages index/.test(e.message)) {
          emit({ phase: 'fetch', message: `skipping ${s.label}: no ${manifest.arch} packages`, level: 'warning' });
          return undefined;
        }
        throw withContext(e, s.label);
      }
    }),
  );
  const indices: { index: PackagesIndex; origin: Origin }[] = [];
  const sources: LockSource[] = [];
  loadedIndices.forEach((li, order) => {
    if (!li) return;
    const s = suites[order]!;
    const { release, inReleaseSha256 } = releases[order]!;
    for (const { component, index } of li) {
      indices.push({ index, origin: { uri: s.uri, suite: s.suite, component, priority: s.priority, order } });
    }
    sources.push({
      spec: s.specUri,
      uri: s.uri,
      suite: s.suite,
      // What was read, the board's components included: the lock shows where each package could come from.
      components: components[order]!,
      priority: s.priority,
      inReleaseSha256,
      date: release.date ? release.date.toISOString().replace(/\.000Z$/, 'Z') : '-',
    });
  });
  if (options.local?.length) indices.push(localIndex(options.local));
  return { universe: new Universe(manifest.arch, indices), sources, downloadBytes };
}

/** Like Promise.all, but waits for every promise before failing, so nothing still runs (or prints) after the error. */
async function allOrFirstError<T>(promises: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * The manifest's local debs, read and checked. Their paths are relative to the manifest's folder,
 * and the build finds them beside the lock: the two must share a folder.
 */
async function localDebsOf(loaded: LoadedManifest, lockPath: string): Promise<LocalDeb[]> {
  const paths = loaded.manifest.debs;
  if (paths.length === 0) return [];
  if (resolvePath(dirname(lockPath)) !== resolvePath(dirname(loaded.path))) {
    throw new OtaError('ERR_OTA_USAGE', `${loaded.path} has local debs, so its lock must be in its folder, not ${lockPath}`, { hint: 'drop --output, or write the lock beside the manifest' });
  }
  return readLocalDebs(loaded.path, paths, loaded.manifest.arch);
}

/** Whether a lock holds exactly these local debs, byte for byte (a rebuilt .deb re-locks). */
function sameLocalDebs(previous: Lock, local: LocalDeb[]): boolean {
  const locked = [...previous.packages.values()].filter((c) => c.origin.uri === 'local');
  return locked.length === local.length && local.every((d) => previous.packages.get(d.name)?.sha256 === d.sha256 && previous.packages.get(d.name)?.origin.uri === 'local');
}

/** The board's part of a lock: its packages, and the hash of its definition (a changed board re-locks). */
async function boardPart(name: string, boardsDir?: string): Promise<NonNullable<Lock['header']['board']>> {
  const { board, sha256 } = await loadBoard(name, boardsDir);
  return { name, sha256, packages: boardPackages(board), components: board.firmware.components };
}
