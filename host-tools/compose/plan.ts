import { createHash } from 'node:crypto';
import type { Lock } from '../lock/lockfile.js';
import type { LockedDeb } from './plan-debs.js';
import { LOCAL_ORIGIN_URI } from '../lock/lock-syntax.js';

/**
 * What `ota build` makes of one image, as data and without touching anything: the debs, the
 * commit's times, its ref, and the key its result is cached under. With a board, the image's
 * own closure is a part of its own (the rootfs, keyed without the board), and the board's
 * packages go on top of it: a kernel bump then rebuilds only the board's part.
 *
 * @example
 * const p = planImage({ input: 'gw.lock', lockPath: 'gw.lock', lock, lockSha256, fallbacks: [] });
 * repo.listRefs('ota/build').get(buildRef(p.key)); // a previous build of exactly this
 */
export interface PlanInput {
  input: string;
  lockPath: string;
  lock: Lock;
  lockSha256: string;
  /** Where debs the archives dropped may be found (the manifest's sources', then the command line's). */
  fallbacks: string[];
  /** The board's name when only the manifest names it (a lock with a board says it itself). */
  boardName?: string;
  /** With a board in the lock: the image's own packages (its closure without the board's), and the modules its initramfs must hold. */
  boardParts?: { ownNames: Set<string>; rootModules: string[] };
  /** The `file:` URL of the folder the lock's local debs are relative to (its manifest's; docs/manifest.md, "Local debs"). */
  localUrl?: string;
  /** The recipe version (default RECIPE_VERSION); a parameter so that a test can show the key follows it. */
  recipe?: string;
}

export interface ImagePlan {
  input: string;
  lockPath: string;
  lock: Lock;
  debs: LockedDeb[];
  fallbacks: string[];
  /** The commit's time: the newest archive date the lock was resolved against. */
  timestamp: number;
  /** SOURCE_DATE_EPOCH of the scripts: the oldest archive date. */
  epoch: number;
  key: string;
  ref: string;
  board?: string;
  /** With a board: the image's own packages, built and cached apart from the board's. */
  rootfs?: { debs: LockedDeb[]; key: string };
  /** With a board: modules its initramfs must hold to mount the root (board.yaml's, and the root file system's). */
  rootModules?: string[];
  lockSha256: string;
}

/** Bumped whenever stage 1, stage 2 or the layout change what a lockfile builds into. */
export const RECIPE_VERSION = '5';

export interface KeyParts {
  recipe: string;
  arch: string;
  timestamp: number;
  epoch: number;
  debs: LockedDeb[];
  /** SHA256 of the board definition, '' without a board. */
  board: string;
}

/** What a build is keyed by: the recipe, the arch, the commit time and script epoch, every deb by SHA256, the board definition. */
export function buildKey(k: KeyParts): string {
  const debs = k.debs.map((d) => `${d.name} ${d.sha256}`).sort();
  return createHash('sha256')
    .update(JSON.stringify({ recipe: k.recipe, arch: k.arch, timestamp: k.timestamp, epoch: k.epoch, board: k.board, debs }))
    .digest('hex');
}

export function buildRef(key: string): string {
  return `ota/build/${key}`;
}

export function rootfsRef(key: string): string {
  return `ota/rootfs/${key}`;
}

export function planImage(i: PlanInput): ImagePlan {
  const { header } = i.lock;
  const recipe = i.recipe ?? RECIPE_VERSION;
  const debs = lockedDebs(i.lock, i.localUrl);
  // Reproducible: the commit time is the newest archive date the lock was resolved against. The
  // dates scripts write into files (SOURCE_DATE_EPOCH) follow the oldest one, which moves only with
  // a point release, not with every refresh of an updates suite: a rebuild after `ota lock --update`
  // then reuses what did not change (the image without its board, when only the kernel moved).
  const dates = header.sources.map((s) => Math.floor(Date.parse(s.date) / 1000)).filter((n) => Number.isFinite(n));
  const timestamp = Math.max(0, ...dates);
  const epoch = dates.length > 0 ? Math.min(...dates) : 0;
  const board = header.board?.name ?? i.boardName;
  const ref = [header.image, header.architecture, ...(board ? [board] : [])].join('/');
  const key = buildKey({ recipe, arch: header.architecture, timestamp, epoch, debs, board: header.board?.sha256 ?? '' });
  const plan: ImagePlan = { input: i.input, lockPath: i.lockPath, lock: i.lock, debs, fallbacks: i.fallbacks, timestamp, epoch, key, ref, board, lockSha256: i.lockSha256 };
  if (!header.board || !i.boardParts) return plan;
  const own = debs.filter((d) => i.boardParts!.ownNames.has(d.name));
  // The rootfs is committed at the epoch: its time must not move with the board's suites.
  const rootfs = { debs: own, key: buildKey({ recipe, arch: header.architecture, timestamp: epoch, epoch, debs: own, board: '' }) };
  return { ...plan, rootfs, rootModules: i.boardParts.rootModules };
}

function lockedDebs(lock: Lock, localUrl: string | undefined): LockedDeb[] {
  return [...lock.packages.values()].map((c) => {
    const local = c.origin.uri === LOCAL_ORIGIN_URI;
    if (local && !localUrl) throw new Error(`${c.name} comes from a local deb, but the plan has no folder for it, this is a bug`);
    return {
      name: c.name,
      version: c.version,
      architecture: c.architecture,
      filename: c.filename!,
      size: c.size!,
      sha256: c.sha256!,
      originUri: local ? localUrl! : c.origin.uri,
      ...(local ? { local: true } : {}),
    };
  });
}

/** The plans whose exact build the repository holds already (by key), and the rest. */
export function splitBuilt(plans: ImagePlan[], built: Map<string, string>): { cached: { plan: ImagePlan; checksum: string }[]; todo: ImagePlan[] } {
  const cached: { plan: ImagePlan; checksum: string }[] = [];
  const todo: ImagePlan[] = [];
  for (const plan of plans) {
    const checksum = built.get(buildRef(plan.key));
    if (checksum) cached.push({ plan, checksum });
    else todo.push(plan);
  }
  return { cached, todo };
}

/** Every deb the images to build need, each once (images share their per-deb commits). */
export function debsToEnsure(todo: ImagePlan[]): { debs: LockedDeb[]; fallbacks: string[] } {
  const all = new Map<string, LockedDeb>();
  for (const p of todo) for (const d of p.debs) all.set(d.sha256, d);
  return { debs: [...all.values()], fallbacks: [...new Set(todo.flatMap((p) => p.fallbacks))] };
}
