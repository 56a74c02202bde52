/**
 * Writes a disk image to a device or file: only the ranges its block map lists, then fsync, then
 * a read-back of every range against its SHA256. Before anything is opened for writing the target
 * is checked (plan as data: `planTargetChecks` is pure), and unless forced ota refuses a missing
 * target, one that is mounted or is swap, the disk the running system lives on, and a device
 * smaller than the image. /proc and /sys are options, so tests can give fixture trees.
 *
 * @example
 * const r = await flash({ image: 'disk.img', device: '/dev/sdb', onEvent: reporter.event });
 * // r.writtenBytes, r.skippedBytes, r.verified
 */
import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { access, open, readdir, readFile, realpath, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { OtaError } from '../../common/errors.js';
import { silent, type EventSink } from '../../common/events.js';
import { run } from '../../common/exec.js';
import { BMAP_BLOCK_SIZE, hashRange, rangeExtent, readBmap, type Bmap, type BmapRange } from './bmap.js';

/** A block device as /sys shows it; `disk` is the whole disk a partition belongs to (itself for a disk). */
export interface BlockDevice {
  name: string;
  devno: string;
  disk: string;
  sizeBytes: number;
  /** Devices this one is built on (dm, md, loop-on-partition): /sys/class/block/NAME/slaves. */
  slaves: string[];
}

/** A mount or a swap area, with the leaf block devices (partitions or disks) that hold it. */
export interface DeviceUse {
  source: string;
  /** The mount point, or `[swap]`. */
  where: string;
  devices: string[];
}

/** What the checks look at: block devices by kernel name, mounts, swap areas. */
export interface SystemState {
  blocks: Map<string, BlockDevice>;
  mounts: DeviceUse[];
  swaps: DeviceUse[];
}

/** The target as found: its kind and, for a block device, its kernel name and size. */
export interface TargetFacts {
  path: string;
  kind: 'missing' | 'file' | 'block' | 'other';
  name?: string;
  sizeBytes?: number;
}

/** One check that stops a flash unless forced: which check, why, and what to do. */
export interface Refusal {
  check: 'missing' | 'not-a-disk' | 'unknown-device' | 'in-use' | 'host-disk' | 'too-small';
  message: string;
  hint: string;
}

/** Mount points whose disk is the running system's own. */
const HOST_MOUNTS = new Set(['/', '/boot', '/boot/efi', '/usr']);

/**
 * Reads block devices from `<sysRoot>/class/block`, mounts from `<procRoot>/self/mountinfo`,
 * swap from `<procRoot>/swaps`, and resolves each mount and swap area to the leaf devices under it
 * (through dm/md `slaves`), so LVM or LUKS on a partition still points at the disk.
 *
 * @example
 * const system = await readSystemState({ procRoot: 'fixture/proc', sysRoot: 'fixture/sys' });
 */
export async function readSystemState(roots: { procRoot?: string; sysRoot?: string } = {}): Promise<SystemState> {
  const proc = roots.procRoot ?? '/proc';
  const classDir = path.join(roots.sysRoot ?? '/sys', 'class/block');
  const names = await readdir(classDir).catch(() => [] as string[]);
  const blocks = new Map<string, BlockDevice>();
  for (const name of names) {
    // class/block/NAME links to .../block/DISK[/PART]; a partition's directory has a `partition` file.
    const dir = await realpath(path.join(classDir, name)).catch(() => null);
    if (dir === null) continue; // gone since readdir (a loop device detached meanwhile)
    const isPart = await access(path.join(dir, 'partition')).then(() => true, () => false);
    const read = (f: string): Promise<string> => readFile(path.join(dir, f), 'utf8').then((s) => s.trim(), () => '');
    blocks.set(name, {
      name,
      devno: await read('dev'),
      disk: isPart ? path.basename(path.dirname(dir)) : name,
      sizeBytes: Number(await read('size')) * 512, // always 512-byte sectors, whatever the logical block size
      slaves: await readdir(path.join(dir, 'slaves')).catch(() => []),
    });
  }
  const byDevno = new Map([...blocks.values()].map((b) => [b.devno, b.name]));
  const leaves = (name: string, seen = new Set<string>()): string[] => {
    const b = blocks.get(name);
    if (!b || seen.has(name)) return [];
    seen.add(name);
    return b.slaves.length ? b.slaves.flatMap((s) => leaves(s, seen)) : [name];
  };
  const byPath = async (p: string): Promise<string | undefined> => {
    if (!p.startsWith('/dev/')) return undefined;
    const name = path.basename(await realpath(p).catch(() => p)); // /dev/mapper/x -> /dev/dm-0
    return blocks.has(name) ? name : undefined;
  };
  const mounts: DeviceUse[] = [];
  const mountinfo = await readFile(path.join(proc, 'self/mountinfo'), 'utf8').catch((e: Error) => {
    throw new OtaError('ERR_OTA_FLASH', `cannot tell what is mounted: ${e.message}`, { hint: 'is /proc mounted?', cause: e });
  });
  for (const line of mountinfo.split('\n')) {
    // "36 35 98:0 /root /mnt rw,noatime master:1 - ext3 /dev/root rw": the devno is st_dev, which a
    // block file system shares with its device; btrfs and friends have anonymous ones, hence the source too.
    const [pre, post] = line.split(' - ');
    const f = pre?.split(' ') ?? [];
    const [, source = ''] = post?.split(' ') ?? [];
    if (f.length < 5 || !post) continue;
    const name = byDevno.get(f[2] ?? '') ?? (await byPath(unescape(source)));
    mounts.push({ source: unescape(source), where: unescape(f[4] ?? ''), devices: name ? leaves(name) : [] });
  }
  const swaps: DeviceUse[] = [];
  const swapText = await readFile(path.join(proc, 'swaps'), 'utf8').catch(() => '');
  for (const line of swapText.split('\n').slice(1)) {
    const [file, type] = line.trim().split(/\s+/);
    if (!file) continue;
    const p = unescape(file);
    const name = await byPath(p);
    // A swap file lives on the file system of the longest mount point that holds it.
    const host = type === 'file' ? mounts.filter((m) => p.startsWith(m.where === '/' ? '/' : `${m.where}/`)).sort((a, b) => b.where.length - a.where.length)[0] : undefined;
    swaps.push({ source: p, where: '[swap]', devices: name ? leaves(name) : (host?.devices ?? []) });
  }
  return { blocks, mounts, swaps };
}

/** mountinfo and /proc/swaps write space, tab, newline and backslash as octal escapes. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Looks at the target path: missing, regular file, block device (named through its device number
 * in /sys, sized from /sys or `blockdev --getsize64`), or something else.
 *
 * @example
 * const target = await describeTarget('/dev/sdb', system); // { kind: 'block', name: 'sdb', sizeBytes: 32017047552 }
 */
export async function describeTarget(device: string, system: SystemState): Promise<TargetFacts> {
  const st = await stat(device, { bigint: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw new OtaError('ERR_OTA_FLASH', `cannot look at ${device}: ${e.message}`, { cause: e });
  });
  if (!st) return { path: device, kind: 'missing' };
  if (st.isFile()) return { path: device, kind: 'file' };
  if (!st.isBlockDevice()) return { path: device, kind: 'other' };
  // glibc's dev_t encoding (gnu_dev_major/minor).
  const major = ((st.rdev >> 8n) & 0xfffn) | ((st.rdev >> 32n) & ~0xfffn);
  const minor = (st.rdev & 0xffn) | ((st.rdev >> 12n) & ~0xffn);
  const name = [...system.blocks.values()].find((b) => b.devno === `${major}:${minor}`)?.name;
  let sizeBytes = name ? system.blocks.get(name)?.sizeBytes : undefined;
  if (sizeBytes === undefined) {
    const { stdout } = await run(`size of ${device}`, ['blockdev', '--getsize64', device]);
    sizeBytes = Number(stdout.trim());
  }
  return name ? { path: device, kind: 'block', name, sizeBytes } : { path: device, kind: 'block', sizeBytes };
}

/**
 * The checks that stop a flash, as data: empty means go. A regular file is always fine (it grows);
 * a block device must be known to /sys, unused, not the host's disk, and big enough.
 *
 * @example
 * planTargetChecks({ path: '/dev/sdb', kind: 'block', name: 'sdb', sizeBytes: 8 << 20 }, system, 64 << 20);
 * // [{ check: 'too-small', message: '...', hint: '...' }]
 */
export function planTargetChecks(target: TargetFacts, system: SystemState, imageSize: number): Refusal[] {
  const out: Refusal[] = [];
  const t = target.path;
  if (target.kind === 'missing') out.push({ check: 'missing', message: `${t} does not exist`, hint: 'check the device name (`lsblk` lists disks); --force writes a new regular file there' });
  if (target.kind === 'other') out.push({ check: 'not-a-disk', message: `${t} is neither a block device nor a regular file`, hint: 'give a disk (/dev/sdX, /dev/mmcblkN) or an image file; --force writes to it anyway' });
  if (target.kind !== 'block') return out;
  const dev = target.name === undefined ? undefined : system.blocks.get(target.name);
  if (!dev) {
    out.push({ check: 'unknown-device', message: `${t} is not in /sys/class/block, so ota cannot tell whether it is in use`, hint: 'is /sys mounted? --force skips the check' });
  } else {
    // The target, its partitions, and the disk it is a partition of all share its bytes.
    const related = new Set([dev.name, dev.disk, ...[...system.blocks.values()].filter((b) => b.disk === dev.name).map((b) => b.name)]);
    const used = [...system.mounts, ...system.swaps].filter((u) => u.devices.some((d) => related.has(d)));
    // A LUKS mapping, an LVM volume group or a RAID array holds its devices even when nothing is mounted.
    const held = [...system.blocks.values()].flatMap((b) => b.slaves.filter((s) => related.has(s)).map((s) => `${s} is held by ${b.name}`));
    if (used.length || held.length) {
      const mountPoints = used.filter((u) => u.where !== '[swap]').map((u) => u.where);
      const todo = mountPoints.length ? `unmount it first (umount ${mountPoints.join(' ')})` : used.length ? 'stop using it first (swapoff)' : `close what holds it first (\`lsblk ${t}\` shows it)`;
      out.push({ check: 'in-use', message: `${t} is in use: ${[...used.map((u) => `${u.source} on ${u.where}`), ...held].join(', ')}`, hint: `${todo}, or pass --force` });
    }
    const host = [...system.mounts.filter((m) => HOST_MOUNTS.has(m.where)), ...system.swaps].filter((u) => u.devices.some((d) => system.blocks.get(d)?.disk === dev.disk));
    if (host.length) {
      out.push({ check: 'host-disk', message: `${t} is on ${dev.disk}, the disk this system runs from (${host.map((u) => `${u.where} is ${u.source}`).join(', ')})`, hint: 'pick another device (`lsblk` lists them); --force writes anyway' });
    }
  }
  if (target.sizeBytes !== undefined && target.sizeBytes < imageSize) {
    out.push({ check: 'too-small', message: `${t} holds ${mib(target.sizeBytes)} but the image is ${mib(imageSize)}`, hint: 'use a bigger device; --force writes the part that fits and then fails' });
  }
  return out;
}

function mib(n: number): string {
  return `${n} bytes (${(n / 1048576).toFixed(1)} MiB)`;
}

/** What `flash` needs; `bmap` defaults to IMAGE.bmap when that file exists, and `false` writes the whole image. */
export interface FlashOptions {
  image: string;
  device: string;
  bmap?: string | false;
  /** Write despite the target checks (each overridden check becomes a warning event). */
  force?: boolean;
  /** Read every range back and compare checksums (default true). */
  verify?: boolean;
  procRoot?: string;
  sysRoot?: string;
  onEvent?: EventSink;
  /** Bytes per read and write (default 8 MiB). */
  chunkBytes?: number;
}

/** What `flash` did: bytes written (only mapped ranges) and skipped (holes), whether it verified. */
export interface FlashResult {
  bmapPath: string | null;
  imageSize: number;
  writtenBytes: number;
  skippedBytes: number;
  verified: boolean;
  seconds: number;
  /** Checks that --force overrode. */
  overridden: Refusal[];
}

/**
 * Checks the target, writes the mapped ranges, fsyncs, and verifies (unless `verify: false`).
 *
 * @example
 * await flash({ image: 'disk.img', device: '/dev/sdb', verify: true });
 */
export async function flash(o: FlashOptions): Promise<FlashResult> {
  const started = performance.now();
  const onEvent = o.onEvent ?? silent;
  const img = await stat(o.image, { bigint: true }).catch((e: Error) => {
    throw new OtaError('ERR_OTA_FLASH', `cannot read the image ${o.image}: ${e.message}`, { cause: e });
  });
  const imageSize = Number(img.size);
  const bmapPath = o.bmap === false ? null : (o.bmap ?? (await access(`${o.image}.bmap`).then(() => `${o.image}.bmap`, () => null)));
  const bmap = bmapPath === null ? wholeImage(imageSize) : await readBmap(bmapPath);
  if (bmapPath === null) onEvent({ phase: 'flash', message: `no block map (${o.image}.bmap), writing all of ${o.image}` });
  if (bmap.imageSize !== imageSize) {
    throw new OtaError('ERR_OTA_BMAP', `${bmapPath} is the block map of a ${bmap.imageSize}-byte image, but ${o.image} has ${imageSize} bytes`, { hint: 'give the .bmap made with this image (--bmap), or make a new one (`bmaptool create`)' });
  }
  const system = await readSystemState(o);
  const target = await describeTarget(o.device, system);
  const same = await stat(o.device, { bigint: true }).then((s) => s.dev === img.dev && s.ino === img.ino, () => false);
  if (same) throw new OtaError('ERR_OTA_FLASH', `${o.device} is the image itself`, { hint: 'give another target' });
  const refusals = planTargetChecks(target, system, imageSize);
  const [first, ...more] = refusals;
  if (first && !o.force) {
    throw new OtaError('ERR_OTA_FLASH', `refusing to write ${o.device}: ${first.message}`, { hint: first.hint, details: more.map((r) => `also: ${r.message}`) });
  }
  for (const r of refusals) onEvent({ phase: 'flash', level: 'warning', message: `--force: writing although ${r.message}` });

  const written = await writeRanges(o, target, bmap, onEvent);
  if (o.verify ?? true) await verifyTarget(o.device, written.bmap, { onEvent, chunkBytes: o.chunkBytes });
  return {
    bmapPath,
    imageSize,
    writtenBytes: written.bytes,
    skippedBytes: imageSize - written.bytes,
    verified: o.verify ?? true,
    seconds: (performance.now() - started) / 1000,
    overridden: o.force ? refusals : [],
  };
}

/** Without a bmap the whole image is one range, checksummed while it is written. */
function wholeImage(imageSize: number): Bmap {
  const blocksCount = Math.ceil(imageSize / BMAP_BLOCK_SIZE);
  return { imageSize, blockSize: BMAP_BLOCK_SIZE, blocksCount, mappedBlocksCount: blocksCount, ranges: blocksCount ? [{ first: 0, last: blocksCount - 1 }] : [] };
}

async function writeRanges(o: FlashOptions, target: TargetFacts, bmap: Bmap, onEvent: EventSink): Promise<{ bytes: number; bmap: Bmap }> {
  const total = bmap.ranges.reduce((n, r) => n + rangeExtent(bmap, r).end - rangeExtent(bmap, r).start, 0);
  const progress = throttle(onEvent, 'flash', `writing ${o.device}`, total);
  // O_EXCL on a block device makes the kernel refuse one that is mounted or held (EBUSY): a second
  // check under ours. A file target is created if forced, and cut to the image size so its holes
  // read as zeros, as the image's do.
  const isFile = target.kind === 'file' || target.kind === 'missing';
  const flags = target.kind === 'block' ? fsc.O_RDWR | (o.force ? 0 : fsc.O_EXCL) : isFile ? fsc.O_RDWR | fsc.O_CREAT : fsc.O_WRONLY;
  const dst = await open(o.device, flags, 0o644).catch((e: NodeJS.ErrnoException) => {
    const busy = e.code === 'EBUSY' ? ' (the kernel says it is busy: mounted, or held by LVM, RAID or a program)' : '';
    throw new OtaError('ERR_OTA_FLASH', `cannot open ${o.device} for writing: ${e.message}${busy}`, { cause: e, hint: busy ? 'unmount it or stop what holds it' : undefined });
  });
  const src = await open(o.image, 'r');
  const buf = Buffer.allocUnsafe(o.chunkBytes ?? 8 << 20);
  const ranges: BmapRange[] = [];
  let bytes = 0;
  try {
    if (isFile) {
      await dst.truncate(0);
      await dst.truncate(bmap.imageSize);
    }
    for (const r of bmap.ranges) {
      const { start, end } = rangeExtent(bmap, r);
      const hash = createHash('sha256');
      for (let pos = start; pos < end; ) {
        const n = Math.min(buf.length, end - pos);
        await readExactly(src, buf, n, pos, o.image);
        hash.update(buf.subarray(0, n));
        for (let off = 0; off < n; ) off += (await dst.write(buf, off, n - off, pos + off).catch(writeError(o.device, pos + off))).bytesWritten;
        pos += n;
        bytes += n;
        progress(bytes);
      }
      const digest = hash.digest('hex');
      if (r.sha256 && r.sha256 !== digest) {
        throw new OtaError('ERR_OTA_FLASH', `${o.image} does not match its block map: blocks ${r.first}-${r.last} have SHA256 ${digest}, the bmap says ${r.sha256}; ${o.device} now holds part of the image`, { hint: 'the image changed after its .bmap was made: make a new .bmap, then flash again' });
      }
      ranges.push({ ...r, sha256: digest });
    }
    await dst.sync(); // the data is on the device, not just in the page cache, before we say so
  } finally {
    await Promise.all([dst.close(), src.close()]);
  }
  return { bytes, bmap: { ...bmap, ranges } };
}

/** A failed write (ENOSPC past the end of a forced too-small device, EIO) as an error that says where. */
function writeError(device: string, at: number): (e: Error) => never {
  return (e) => {
    throw new OtaError('ERR_OTA_FLASH', `writing ${device} at byte ${at}: ${e.message}; it now holds part of the image`, { cause: e });
  };
}

async function readExactly(fh: FileHandle, buf: Buffer, n: number, pos: number, what: string): Promise<void> {
  for (let off = 0; off < n; ) {
    const { bytesRead } = await fh.read(buf, off, n - off, pos + off);
    if (bytesRead === 0) throw new OtaError('ERR_OTA_FLASH', `${what} ended at byte ${pos + off} while being written`, { hint: 'was it changed during the flash?' });
    off += bytesRead;
  }
}

/** Progress events at most every 1% (and at the end), so a log of a 30 GiB flash stays short. */
function throttle(onEvent: EventSink, phase: string, message: string, total: number): (current: number) => void {
  let last = -Infinity;
  return (current) => {
    if (current - last < total / 100 && current < total) return;
    last = current;
    onEvent({ phase, message, current, total, bytes: current });
  };
}

/**
 * Reads each range back from the target and compares its SHA256 with the bmap's; throws naming
 * the ranges that differ. A block device's cache is dropped first (`blockdev --flushbufs`) so the
 * bytes come from the device, not from the pages just written.
 *
 * @example
 * await verifyTarget('/dev/sdb', await readBmap('disk.img.bmap'));
 */
export async function verifyTarget(device: string, bmap: Bmap, options: { onEvent?: EventSink; chunkBytes?: number } = {}): Promise<{ verifiedBytes: number }> {
  const onEvent = options.onEvent ?? silent;
  if (bmap.ranges.some((r) => !r.sha256)) throw new OtaError('ERR_OTA_BMAP', 'the block map has ranges without checksums, so the write cannot be verified', { hint: 'make the .bmap with checksums, or pass --no-verify' });
  const st = await stat(device).catch((e: Error) => {
    throw new OtaError('ERR_OTA_FLASH', `cannot verify ${device}: ${e.message}`, { cause: e });
  });
  if (st.isBlockDevice()) {
    await run(`drop the cache of ${device}`, ['blockdev', '--flushbufs', device]).catch((e: Error) => onEvent({ phase: 'verify', level: 'warning', message: `reading back through the page cache: ${e.message}` }));
  }
  const total = bmap.ranges.reduce((n, r) => n + rangeExtent(bmap, r).end - rangeExtent(bmap, r).start, 0);
  const progress = throttle(onEvent, 'verify', `reading back ${device}`, total);
  const fh = await open(device, 'r');
  const buf = Buffer.allocUnsafe(options.chunkBytes ?? 8 << 20);
  const bad: string[] = [];
  let done = 0;
  try {
    for (const r of bmap.ranges) {
      const e = rangeExtent(bmap, r);
      const digest = await hashRange(fh, e, buf);
      if (digest !== r.sha256) bad.push(`blocks ${r.first}-${r.last} (bytes ${e.start}-${e.end - 1}): ${digest === null ? `${device} ends before them` : `SHA256 ${digest}, expected ${r.sha256}`}`);
      done += e.end - e.start;
      progress(done);
    }
  } finally {
    await fh.close();
  }
  if (bad.length) {
    throw new OtaError('ERR_OTA_FLASH', `verifying ${device}: ${bad.length} of ${bmap.ranges.length} written ranges differ from the image`, {
      details: bad.slice(0, 10).concat(bad.length > 10 ? [`... and ${bad.length - 10} more`] : []),
      hint: 'the device may be failing, or something else wrote to it: flash again, or try another device',
    });
  }
  return { verifiedBytes: done };
}
