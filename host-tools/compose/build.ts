import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError, withContext } from '../../common/errors.js';
import { silent, type EventSink } from '../../common/events.js';
import { defaultCacheDir } from '../apt/index-cache.js';
import { expandVars } from '../lock/sources.js';
import { defaultLockPath, lock as lockManifest, parseRootSpec } from '../lock/lock.js';
import { resolve } from '../lock/resolve.js';
import { readLock, type Lock } from '../lock/lockfile.js';
import { loadManifest } from '../manifest/load.js';
import { encodeMetadata, GVariantValue, readCommit, Repo } from '../../node-ostree/index.js';
import { ensureDebs, type EnsureResult } from './debs.js';
import { loadBoard } from '../board/load.js';
import { checkInitramfs } from './initramfs.js';
import { makeDeployable, type LayoutResult } from './layout.js';
import type { LockedDeb } from './plan-debs.js';
import { buildStage1, type FileConflict } from './stage1.js';
import { runStage2, type Stage2Options } from './stage2.js';
import { fsReason } from '../../common/fs-errors.js';

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
}

export interface ImageBuild {
  input: string;
  lockPath: string;
  image: string;
  arch: string;
  ref: string;
  checksum: string;
  /** Bytes of file content in the tree. */
  size: number;
  packages: number;
  /** Nothing to do: this exact build was in the repository already. */
  noop: boolean;
  kernels: string[];
  conflicts: FileConflict[];
  warnings: string[];
  seconds: Record<string, number>;
}

export interface BuildResult {
  images: ImageBuild[];
  debs: EnsureResult;
}

/** Bumped whenever stage 1, stage 2 or the layout change what a lockfile builds into. */
export const RECIPE_VERSION = '5';

export async function build(options: BuildOptions): Promise<BuildResult> {
  const emit = options.onEvent ?? silent;
  const cacheDir = options.cacheDir ?? defaultCacheDir(options.env);
  if (options.inputs.length === 0) throw new OtaError('ERR_OTA_USAGE', 'nothing to build: give at least one image.yaml or image.lock');
  const plans = [];
  for (const input of options.inputs) plans.push(await planImage(input, options, cacheDir, emit));

  const repo = await openOrCreateRepo(options.repoPath);
  try {
    const images: ImageBuild[] = [];
    const todo = [];
    for (const p of plans) {
      const cached = repo.listRefs('ota/build').get(buildRef(p.key));
      if (cached) {
        const meta = readCommit(repo, cached).metadata;
        repo.setRef(p.ref, cached);
        emit({ phase: 'build', image: p.ref, message: `${p.ref}: up to date (${cached.slice(0, 12)})` });
        images.push(result(p, cached, Number(meta.get('ota.size')?.value ?? 0), true, metaKernels(meta), [], [], {}));
      } else {
        todo.push(p);
      }
    }
    let debs: EnsureResult = { reused: 0, imported: 0, downloaded: 0, downloadBytes: 0 };
    if (todo.length > 0) {
      const all = new Map<string, LockedDeb>();
      for (const p of todo) for (const d of p.debs) all.set(d.sha256, d);
      const t0 = Date.now();
      debs = await ensureDebs(repo, [...all.values()], { cacheDir, jobs: options.jobs, fallbackUris: [...new Set(todo.flatMap((p) => p.fallbacks))], onEvent: emit });
      const fetchSeconds = (Date.now() - t0) / 1000;
      const built = await Promise.all(todo.map((p) => buildImage(options.repoPath, p, options.strict === true, emit).then((b) => ({ ...b, seconds: { fetchImport: fetchSeconds, ...b.seconds } }))));
      images.push(...built);
    }
    return { images: options.inputs.map((i) => images.find((b) => b.input === i)!), debs };
  } finally {
    repo.close();
  }
}

interface ImagePlan {
  input: string;
  lockPath: string;
  lock: Lock;
  debs: LockedDeb[];
  fallbacks: string[];
  timestamp: number;
  /** SOURCE_DATE_EPOCH of the scripts. */
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

async function planImage(input: string, options: BuildOptions, cacheDir: string, emit: EventSink): Promise<ImagePlan> {
  const isLock = input.endsWith('.lock');
  const manifestPath = isLock ? [input.replace(/\.lock$/, '.yaml'), input.replace(/\.lock$/, '.yml')].find((p) => existsSync(p)) : input;
  const lockPath = isLock ? input : defaultLockPath(input);
  if (!isLock) {
    emit({ phase: 'resolve', manifest: input, message: `locking ${input}` });
    await lockManifest({ manifestPath: input, lockPath, offline: options.offline, cacheDir, env: options.env, etcApt: options.etcApt, boardsDir: options.boardsDir, onEvent: emit });
  }
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch (e) {
    throw new OtaError('ERR_OTA_USAGE', `cannot read ${lockPath}: ${fsReason(e)}`, { hint: isLock ? 'check the path, or build the manifest (image.yaml) to lock it first' : undefined });
  }
  const lock = readLock(text, lockPath);
  const manifest = manifestPath ? (await loadManifest(manifestPath)).manifest : undefined;
  const env = options.env ?? process.env;
  const fallbacks = [
    ...(manifest?.sources ?? []).flatMap((s, i) => (s.fallbacks ?? []).map((f) => expandVars(f, env, `sources[${i}].fallbacks (${manifestPath})`))),
    ...(options.fallbackUris ?? []),
  ];
  const debs: LockedDeb[] = [...lock.packages.values()].map((c) => ({
    name: c.name,
    version: c.version,
    architecture: c.architecture,
    filename: c.filename!,
    size: c.size!,
    sha256: c.sha256!,
    originUri: c.origin.uri,
  }));
  // Reproducible: the commit time is the newest archive date the lock was resolved against. The
  // dates scripts write into files (SOURCE_DATE_EPOCH) follow the oldest one, which moves only with
  // a point release, not with every refresh of an updates suite: a rebuild after `ota lock --update`
  // then reuses what did not change (the image without its board, when only the kernel moved).
  const dates = lock.header.sources.map((s) => Math.floor(Date.parse(s.date) / 1000)).filter((n) => Number.isFinite(n));
  const timestamp = Math.max(0, ...dates);
  const epoch = dates.length > 0 ? Math.min(...dates) : 0;
  const board = lock.header.board?.name ?? manifest?.board;
  const ref = [lock.header.image, lock.header.architecture, ...(board ? [board] : [])].join('/');
  // With a board, the image's own closure is built (and cached) as the rootfs, and the board's
  // packages go on top of it: a kernel bump then rebuilds only the board's part.
  let rootfs: ImagePlan['rootfs'];
  let rootModules: string[] | undefined;
  if (lock.header.board) {
    const { board: def } = await loadBoard(lock.header.board.name, options.boardsDir);
    const rootFs = def.disk.partitions.find((x) => x.role === 'root')?.fs ?? 'ext4';
    rootModules = [...def.kernel.rootModules, rootFs];
    const own = resolve(lock.universe, {
      roots: lock.header.requested.map(parseRootSpec),
      variant: lock.header.variant === 'minbase' ? 'minbase' : 'none',
      exclude: lock.header.exclude,
      recommends: lock.header.recommends,
    }).selected;
    const rootfsDebs = debs.filter((d) => own.has(d.name));
    rootfs = { debs: rootfsDebs, key: buildKey(lock.header.architecture, epoch, rootfsDebs, '') };
  }
  const key = buildKey(lock.header.architecture, timestamp, debs, lock.header.board?.sha256 ?? '', epoch);
  return { input, lockPath, lock, debs, fallbacks, timestamp, epoch, key, ref, board, rootfs, rootModules, lockSha256: createHash('sha256').update(text).digest('hex') };
}

function buildRef(key: string): string {
  return `ota/build/${key}`;
}

function rootfsRef(key: string): string {
  return `ota/rootfs/${key}`;
}

/** What a build is keyed by: the recipe, the arch, the commit time, every deb by SHA256, the board definition. */
function buildKey(arch: string, timestamp: number, debs: LockedDeb[], board: string, epoch = timestamp): string {
  return createHash('sha256')
    .update(JSON.stringify({ recipe: RECIPE_VERSION, arch, timestamp, epoch, board, debs: debs.map((d) => `${d.name} ${d.sha256}`).sort() }))
    .digest('hex');
}

async function buildImage(repoPath: string, p: ImagePlan, strict: boolean, emit: EventSink): Promise<ImageBuild> {
  // One Repo object per concurrent image: libostree allows one transaction per object.
  const repo = await Repo.open(repoPath);
  try {
    const seconds: Record<string, number> = {};
    const conflicts: FileConflict[] = [];
    const warnings: string[] = [];
    const stage = async (debs: LockedDeb[], options: Omit<Stage2Options, 'image' | 'arch' | 'timestamp' | 'packages' | 'onEvent'> & { timestamp?: number }, base?: string) => {
      const t0 = Date.now();
      emit({ phase: 'union', image: p.ref, message: `${p.ref}: union of ${debs.length} packages${base ? ' on the image' : ''} and the dpkg database` });
      const s1 = await buildStage1(repo, debs, { timestamp: p.epoch, base });
      seconds.union = (seconds.union ?? 0) + (Date.now() - t0) / 1000;
      const undeclared = s1.conflicts.filter((c) => !c.declared && !c.identical);
      const found = undeclared.map((c) => `${c.path} is shipped by ${c.packages.join(' and ')} without a Replaces (${c.packages[c.packages.length - 1]}'s copy wins)`);
      if (strict && undeclared.length > 0) {
        throw new OtaError('ERR_OTA_CONFLICT', `${p.ref}: ${undeclared.length} file conflict${undeclared.length > 1 ? 's' : ''} between packages that do not declare Replaces`, {
          details: found,
          hint: 'exclude or pin one of the packages, or build without --strict to let the later one win',
        });
      }
      for (const w of found) emit({ phase: 'union', image: p.ref, level: 'warning', message: w });
      conflicts.push(...s1.conflicts);
      warnings.push(...found);
      const s2 = await runStage2(repo, s1.checksum, { image: p.ref, arch: p.lock.header.architecture, timestamp: p.timestamp, sourceDateEpoch: p.epoch, packages: new Map(p.debs.map((d) => [d.name, d.sha256])), onEvent: emit, ...options });
      for (const [k, v] of Object.entries(s2.seconds)) seconds[k] = (seconds[k] ?? 0) + v;
      return s2.checksum;
    };

    let layout: LayoutResult = { kernels: [], warnings: [] };
    let size = 0;
    const subject = `${p.lock.header.image} ${p.lock.header.architecture}${p.board ? ` for ${p.board}` : ''}: ${p.debs.length} packages`;
    const deployable: Pick<Stage2Options, 'ref' | 'subject' | 'finish'> = {
      ref: p.ref,
      subject,
      finish: async (root) => {
        layout = await makeDeployable(root);
        size = await treeSize(root);
        return commitMetadata(p, layout, size);
      },
    };
    let checksum: string;
    if (!p.rootfs) {
      checksum = await stage(p.debs, deployable);
    } else {
      let rootfs = repo.listRefs('ota/rootfs').get(rootfsRef(p.rootfs.key));
      if (rootfs) emit({ phase: 'union', image: p.ref, message: `${p.ref}: the image without the board is built already (${rootfs.slice(0, 12)})` });
      else rootfs = await stage(p.rootfs.debs, { ref: rootfsRef(p.rootfs.key), timestamp: p.epoch, subject: `${p.lock.header.image} ${p.lock.header.architecture} without a board` });
      const own = new Set(p.rootfs.debs.map((d) => d.sha256));
      const finish = async (root: string) => {
        const metadata = await deployable.finish!(root);
        for (const kver of layout.kernels) await checkInitramfs(root, kver, p.rootModules ?? [], `${p.ref}: kernel ${kver}`);
        return metadata;
      };
      checksum = await stage(p.debs.filter((d) => !own.has(d.sha256)), { ...deployable, ...boardStage(), finish }, rootfs);
    }
    repo.setRef(buildRef(p.key), checksum);
    for (const w of layout.warnings) emit({ phase: 'configure', image: p.ref, level: 'warning', message: w });
    return result(p, checksum, size, false, layout.kernels, conflicts, [...warnings, ...layout.warnings], seconds);
  } catch (e) {
    throw withContext(e, `building ${p.input}`);
  } finally {
    repo.close();
  }
}

/**
 * How a board's packages are configured: the kernel's own hooks must not build an initramfs
 * (each dracut run takes minutes under emulation, and Debian runs it from several hooks), so
 * INITRD=No while dpkg configures, then dracut once per kernel, with Debian's ostree module
 * (ostree-prepare-root mounts the deployment) and not host-only (the build host is not the board).
 */
function boardStage(): Pick<Stage2Options, 'env' | 'afterConfigure' | 'prepare'> {
  return {
    env: { INITRD: 'No' },
    prepare: async (root) => {
      await mkdir(join(root, 'etc/dracut.conf.d'), { recursive: true, mode: 0o755 });
      await writeFile(join(root, 'etc/dracut.conf.d/ota-ostree.conf'), '# ota build: images boot OSTree deployments on other machines than the build host\nadd_dracutmodules+=" ostree "\nhostonly="no"\n');
    },
    afterConfigure: [
      // The modules are read from a copy on the chroot's tmpfs: a 32-bit dracut-install under
      // qemu-user (a 64-bit process) gets 64-bit directory offsets from ext4, its readdir fails
      // with EOVERFLOW, and it takes that for the end of every directory, so an armhf initramfs
      // held no drivers at all (65 files instead of ~1000) and could not find its root. tmpfs
      // offsets are small. (dracut wants the copy under a lib/modules/ parent.) checkInitramfs
      // catches any other way of losing them.
      'for m in /usr/lib/modules/*; do k=${m##*/}; [ -e /boot/vmlinuz-$k ] || continue; rm -rf /tmp/ota-kmod && mkdir -p /tmp/ota-kmod/lib/modules && cp -a "$m" "/tmp/ota-kmod/lib/modules/$k" || exit 1; dracut --quiet --force --reproducible --no-hostonly --add ostree --compress "gzip -n -1" --kmoddir "/tmp/ota-kmod/lib/modules/$k" "/boot/initrd.img-$k" "$k" || exit 1; rm -rf /tmp/ota-kmod; done',
    ],
  };
}

function commitMetadata(p: ImagePlan, l: LayoutResult, bytes: number): Buffer {
  return encodeMetadata({
    version: new GVariantValue('s', new Date(p.timestamp * 1000).toISOString().replace(/\.000Z$/, 'Z')),
    'ota.image': new GVariantValue('s', p.lock.header.image),
    'ota.arch': new GVariantValue('s', p.lock.header.architecture),
    ...(p.board ? { 'ota.board': new GVariantValue('s', p.board) } : {}),
    'ota.lock-sha256': new GVariantValue('s', p.lockSha256),
    'ota.build-key': new GVariantValue('s', p.key),
    'ota.packages': new GVariantValue('u', p.debs.length),
    'ota.size': new GVariantValue('t', BigInt(bytes)),
    ...(l.kernels[0] ? { 'ostree.bootable': new GVariantValue('b', true), 'ostree.linux': new GVariantValue('s', l.kernels[0]) } : {}),
  });
}

function result(p: ImagePlan, checksum: string, size: number, noop: boolean, kernels: string[], conflicts: FileConflict[], warnings: string[], seconds: Record<string, number>): ImageBuild {
  return { input: p.input, lockPath: p.lockPath, image: p.lock.header.image, arch: p.lock.header.architecture, ref: p.ref, checksum, size, packages: p.debs.length, noop, kernels, conflicts, warnings, seconds };
}

function metaKernels(meta: Map<string, GVariantValue>): string[] {
  const k = meta.get('ostree.linux')?.value;
  return typeof k === 'string' ? [k] : [];
}

async function openOrCreateRepo(path: string): Promise<Repo> {
  if (existsSync(join(path, 'config'))) return Repo.open(path);
  // As root (which stage 2 needs) a bare repository keeps real owners and modes, so the
  // hardlinked checkout is exact; bare-user is what a non-root user can have.
  return Repo.create(path, process.getuid?.() === 0 ? 'bare' : 'bare-user');
}

/** Bytes of regular files, each inode once. */
async function treeSize(root: string): Promise<number> {
  const seen = new Set<number>();
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        const st = await lstat(p);
        if (!seen.has(st.ino)) {
          seen.add(st.ino);
          total += st.size;
        }
      }
    }
  };
  await walk(root);
  return total;
}
