/**
 * Whether a flash target is safe to write, as facts and a plan (docs/conventions.md, "Plan as data"): what the system
 * has mounted, swaps on or holds (read from /proc and /sys, whose roots tests replace with
 * fixture trees), what the target is, and the list of refusals `ota flash` reports unless forced.
 *
 * @example
 * const system = await readSystemState();
 * const refusals = planTargetChecks(await describeTarget('/dev/sdb', system), system, imageSize);
 */
import { access, readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';

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

