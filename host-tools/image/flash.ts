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
import { access, open, stat, type FileHandle } from 'node:fs/promises';
import { EXIT, OtaError } from '../../common/errors.js';
import { silent, type DeviceEvent, type EventSink } from '../../common/events.js';
import { run } from '../../common/exec.js';
import { BMAP_BLOCK_SIZE, hashRange, rangeExtent, readBmap, type Bmap, type BmapRange } from './bmap.js';
import { describeTarget, planTargetChecks, readSystemState, type Refusal, type TargetFacts } from './flash-target.js';
import { fsReason, isMissing } from '../../common/fs-errors.js';

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
  const img = await stat(o.image, { bigint: true }).catch((e: unknown) => {
    throw new OtaError('ERR_OTA_FLASH', `cannot read the image ${o.image}: ${fsReason(e)}`, { cause: e, exitCode: isMissing(e) ? EXIT.usage : undefined });
  });
  if (img.isDirectory()) throw new OtaError('ERR_OTA_FLASH', `cannot read the image ${o.image}: it is a directory, not a file`, { exitCode: EXIT.usage, hint: 'give the disk image `ota image` wrote' });
  const imageSize = Number(img.size);
  const bmapPath = o.bmap === false ? null : (o.bmap ?? (await access(`${o.image}.bmap`).then(() => `${o.image}.bmap`, () => null)));
  const bmap = bmapPath === null ? wholeImage(imageSize) : await readBmap(bmapPath);
  if (bmapPath === null) onEvent({ phase: 'flash', target: o.device, message: `no block map (${o.image}.bmap), writing all of ${o.image}` });
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
    // A target that is missing, mounted, in use, the host's own disk or too small is bad input
    // (the user named the wrong device), not failed work: exit 2, as for any other bad argument.
    throw new OtaError('ERR_OTA_FLASH', `refusing to write ${o.device}: ${first.message}`, { hint: first.hint, details: more.map((r) => `also: ${r.message}`), exitCode: EXIT.usage });
  }
  for (const r of refusals) onEvent({ phase: 'flash', target: o.device, level: 'warning', message: `--force: writing although ${r.message}` });

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
  const progress = throttle(onEvent, { phase: 'flash', target: o.device, message: `writing ${o.device}` }, total);
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
function throttle(onEvent: EventSink, what: Pick<DeviceEvent, 'phase' | 'target' | 'message'>, total: number): (current: number) => void {
  let last = -Infinity;
  return (current) => {
    if (current - last < total / 100 && current < total) return;
    last = current;
    onEvent({ ...what, current, total, bytes: current });
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
    await run(`drop the cache of ${device}`, ['blockdev', '--flushbufs', device]).catch((e: Error) => onEvent({ phase: 'verify', target: device, level: 'warning', message: `reading back through the page cache: ${e.message}` }));
  }
  const total = bmap.ranges.reduce((n, r) => n + rangeExtent(bmap, r).end - rangeExtent(bmap, r).start, 0);
  const progress = throttle(onEvent, { phase: 'verify', target: device, message: `reading back ${device}` }, total);
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
