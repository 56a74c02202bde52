import { lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError, withContext } from '../../common/errors.js';
import type { EventSink } from '../../common/events.js';
import { encodeMetadata, GVariantValue, Repo } from '../../node-ostree/index.js';
import { checkInitramfs } from './initramfs.js';
import { makeDeployable, type LayoutResult } from './layout.js';
import type { LockedDeb } from './plan-debs.js';
import { buildRef, rootfsRef, type ImagePlan } from './plan.js';
import { buildStage1, type FileConflict } from './stage1.js';
import { runStage2, type Stage2Options } from './stage2.js';

/**
 * One image of `ota build`, its debs already in the repository: stage 1 (the union), stage 2
 * (configure) and the deployable layout, committed under the image's ref and its build key.
 * With a board, the image's own part (the rootfs) is built first or found by its key, and the
 * board's packages are configured on top of it.
 *
 * @example
 * const b = await buildImage({ repoPath, strict: false, emit }, plan);
 */
export interface ImageContext {
  repoPath: string;
  /** Undeclared file conflicts fail the build instead of warning. */
  strict: boolean;
  emit: EventSink;
  signal?: AbortSignal;
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
  /** This image's own debs in this run: downloaded, imported (downloaded ones included), already in the repository. Images built together share the work. */
  debs: ImageDebs;
}

export interface ImageDebs {
  fetched: number;
  imported: number;
  reused: number;
}

/** What the deployable stage's finish step found in the tree. */
interface Deployed {
  layout: LayoutResult;
  size: number;
}

type StageOptions<T> = Omit<Stage2Options<T>, 'image' | 'arch' | 'timestamp' | 'packages' | 'onEvent' | 'signal'> & { timestamp?: number };

/** What one union-and-configure pass made, handed back rather than written into the caller's variables. */
interface StageOutcome<T> {
  checksum: string;
  conflicts: FileConflict[];
  warnings: string[];
  seconds: Record<string, number>;
  finished?: T;
}

export async function buildImage(ctx: ImageContext, p: ImagePlan): Promise<ImageBuild> {
  // One Repo object per concurrent image: libostree allows one transaction per object.
  const repo = await Repo.open(ctx.repoPath);
  try {
    const rootfs = p.rootfs ? await ensureRootfs(repo, ctx, p) : undefined;
    const own = new Set(p.rootfs?.debs.map((d) => d.sha256));
    const debs = p.debs.filter((d) => !own.has(d.sha256));
    const image = await stage<Deployed>(repo, ctx, p, { debs, base: rootfs?.checksum, options: { ...deployable(p), ...(p.rootfs ? boardStage() : {}) } });
    repo.setRef(buildRef(p.key), image.checksum);
    const { layout, size } = image.finished!;
    for (const w of layout.warnings) ctx.emit({ phase: 'configure', image: p.ref, level: 'warning', message: w });
    const parts = rootfs?.outcome ? [rootfs.outcome, image] : [image];
    return imageResult(p, {
      checksum: image.checksum,
      size,
      noop: false,
      kernels: layout.kernels,
      conflicts: parts.flatMap((s) => s.conflicts),
      warnings: [...parts.flatMap((s) => s.warnings), ...layout.warnings],
      seconds: sumSeconds(parts.map((s) => s.seconds)),
    });
  } catch (e) {
    throw ctx.signal?.aborted ? e : withContext(e, `building ${p.input}`);
  } finally {
    repo.close();
  }
}

/** The image without its board: found by its key, or built (and then its outcome counts toward the image's). */
async function ensureRootfs(repo: Repo, ctx: ImageContext, p: ImagePlan): Promise<{ checksum: string; outcome?: StageOutcome<undefined> }> {
  const { debs, key } = p.rootfs!;
  const found = repo.listRefs('ota/rootfs').get(rootfsRef(key));
  if (found) {
    ctx.emit({ phase: 'union', image: p.ref, message: `${p.ref}: the image without the board is built already (${found.slice(0, 12)})` });
    return { checksum: found };
  }
  const subject = `${p.lock.header.image} ${p.lock.header.architecture} without a board`;
  const outcome = await stage<undefined>(repo, ctx, p, { debs, options: { ref: rootfsRef(key), timestamp: p.epoch, subject } });
  return { checksum: outcome.checksum, outcome };
}

async function stage<T>(repo: Repo, ctx: ImageContext, p: ImagePlan, part: { debs: LockedDeb[]; base?: string; options: StageOptions<T> }): Promise<StageOutcome<T>> {
  const t0 = Date.now();
  ctx.emit({ phase: 'union', image: p.ref, message: `${p.ref}: union of ${part.debs.length} packages${part.base ? ' on the image' : ''} and the dpkg database` });
  const s1 = await buildStage1(repo, part.debs, { timestamp: p.epoch, base: part.base });
  const union = (Date.now() - t0) / 1000;
  const undeclared = s1.conflicts.filter((c) => !c.declared && !c.identical);
  const warnings = undeclared.map((c) => `${c.path} is shipped by ${c.packages.join(' and ')} without a Replaces (${c.packages[c.packages.length - 1]}'s copy wins)`);
  if (ctx.strict && undeclared.length > 0) {
    throw new OtaError('ERR_OTA_CONFLICT', `${p.ref}: ${undeclared.length} file conflict${undeclared.length > 1 ? 's' : ''} between packages that do not declare Replaces`, {
      details: warnings,
      hint: 'exclude or pin one of the packages, or build without --strict to let the later one win',
    });
  }
  for (const w of warnings) ctx.emit({ phase: 'union', image: p.ref, level: 'warning', message: w });
  ctx.signal?.throwIfAborted();
  const s2 = await runStage2<T>(repo, s1.checksum, {
    image: p.ref,
    arch: p.lock.header.architecture,
    timestamp: p.timestamp,
    sourceDateEpoch: p.epoch,
    packages: new Map(p.debs.map((d) => [d.name, d.sha256])),
    onEvent: ctx.emit,
    signal: ctx.signal,
    ...part.options,
  });
  return { checksum: s2.checksum, conflicts: s1.conflicts, warnings, seconds: { union, ...s2.seconds }, finished: s2.finished };
}

/** The image's own commit: its ref and subject, and a finish step that lays the tree out to boot and describes it. */
function deployable(p: ImagePlan): StageOptions<Deployed> {
  const { image, architecture } = p.lock.header;
  return {
    ref: p.ref,
    subject: `${image} ${architecture}${p.board ? ` for ${p.board}` : ''}: ${p.debs.length} packages`,
    finish: async (root) => {
      const layout = await makeDeployable(root);
      const size = await treeSize(root);
      if (p.rootfs) for (const kver of layout.kernels) await checkInitramfs(root, kver, p.rootModules ?? [], `${p.ref}: kernel ${kver}`);
      return { metadata: commitMetadata(p, layout, size), value: { layout, size } };
    },
  };
}

/**
 * How a board's packages are configured: the kernel's own hooks must not build an initramfs
 * (each dracut run takes minutes under emulation, and Debian runs it from several hooks), so
 * INITRD=No while dpkg configures, then dracut once per kernel, with Debian's ostree module
 * (ostree-prepare-root mounts the deployment) and not host-only (the build host is not the board).
 */
function boardStage(): Pick<Stage2Options<Deployed>, 'env' | 'afterConfigure' | 'prepare'> {
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

type Outcome = Pick<ImageBuild, 'checksum' | 'size' | 'noop' | 'kernels' | 'conflicts' | 'warnings' | 'seconds'>;

export function imageResult(p: ImagePlan, o: Outcome): ImageBuild {
  const { image, architecture: arch } = p.lock.header;
  return { input: p.input, lockPath: p.lockPath, image, arch, ref: p.ref, packages: p.debs.length, debs: { fetched: 0, imported: 0, reused: 0 }, ...o };
}

function sumSeconds(parts: Record<string, number>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const s of parts) for (const [k, v] of Object.entries(s)) total[k] = (total[k] ?? 0) + v;
  return total;
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
