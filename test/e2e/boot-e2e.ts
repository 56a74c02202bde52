/**
 * The steps of the rollback proof (scenario.ts strings them together; `scripts/e2e-boot` and the
 * `vm` test tier run it): the reference image built for a qemu board, made into a disk, booted
 * under qemu-system with the board's bootloader, and then an update whose initramfs cannot start
 * init deployed next to it, counted by the bootloader and rolled back by it on its own. Two
 * bootloaders, driven alike (e2e-bootloaders.ts holds what differs):
 * - U-Boot boards (`qemu` virt): the U-Boot the image itself locked as `-bios`, the disk as a
 *   virtio-mmio block device; ota image's boot.scr counts in the text env ota.env.
 * - GRUB EFI boards (q35): the host's OVMF as `-bios`, the disk on virtio-pci; GRUB (the ESP's
 *   removable-media BOOTX64.EFI) runs the grub.cfg ota image rendered, which counts in grubenv.
 *
 * The booted deployment is read from the console: the image carries a tiny package built here
 * (`ota-e2e-report`, report-package.ts, from a signed local archive the manifest names as a second source) whose
 * systemd unit, ordered after multi-user.target, writes `ota-e2e: booted <checksum>` (resolved
 * from /proc/cmdline's `ostree=` link) and `ota-e2e: multi-user` to /dev/console.
 *
 * Each qemu run is one boot: `-no-reboot` turns the panicking kernel's reboot (`panic=5` is in the
 * board's arguments) into qemu exiting; a boot that reaches multi-user is stopped by the harness
 * once the marker shows. The env is read between boots with mtools.
 *
 * @example
 * const e2e = await E2e.create({ board: 'x86_64-efi', work: '/tmp/e2e', log: console.log });
 * const a = await e2e.buildReference((await e2e.writeManifest()).manifest);
 * const disk = await e2e.makeDisk('a.img', [a.ref]);
 * const boot = await e2e.boot(disk, { firmware: await e2e.firmware(a.ref), until: MULTI_USER, timeoutMs: 600_000, name: 'boot-A' }); // MULTI_USER: report-package.ts
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { progressOf } from '../../common/events.js';
import { run } from '../../common/exec.js';
import { OtaError } from '../../common/errors.js';
import { armForUpgrade, type BootState } from '../../bootloader/state.js';
import { bootStateFromVars } from '../../bootloader/state-vars.js';
import { loadBoard } from '../../host-tools/board/load.js';
import type { Board } from '../../host-tools/board/schema.js';
import { build } from '../../host-tools/compose/build.js';
import { makeImage, type ImageResult } from '../../host-tools/image/disk-image.js';
import { catFile, Repo } from '../../node-ostree/index.js';
import { commitLayer, layerDirs, manifestLines, writeLocalArchive } from './e2e-image.js';
import { CMDLINE, e2eBootloader, type BootedEntry, type DiskEntry, type E2eBootloader } from './e2e-bootloaders.js';
import { BOOTED, brokenInitramfs, LEAN_PACKAGE, REPORT_PACKAGE } from './report-package.js';

/** The kernel's last words before `panic=5` reboots it. */
const KERNEL_PANIC = /Kernel panic - not syncing: (.*)$/m;
// eslint-disable-next-line no-control-regex -- systemd colours its status lines, OVMF and GRUB move the cursor (`ESC[=3h`, `ESC[?25l`)
const ANSI = /\x1b\[[0-9;?=]*[A-Za-z]/g;
const MTOOLS_ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
/** Console lines worth showing while a boot runs (GRUB's `Booting` follows its menu on the same line). */
const INTERESTING = /^(?:ota:|ota-e2e:|U-Boot 20\d\d|Found U-Boot script|BdsDxe: starting|Booting Linux on|Linux version|Run \/init|Failed to execute|Kernel panic|Rebooting in|Welcome to|\S+ login:|.*\b(?:ota-agent\b|ostree-finalize-staged\b|ostree\[\d+\]).*|.*Reached target.*(?:Reboot|Network)\b.*)|Booting `.*'$/;

export interface E2eOptions {
  /** Board name (boards/<name>) with a `qemu:` section, booting with U-Boot (a text-file env) or GRUB EFI. */
  board: string;
  /** Scratch directory: archive, manifest, repository, disks, console logs. Keep it short (gpg-agent's socket lives under it). */
  work: string;
  /** Only these suites of the host's apt sources (default all), e.g. to leave out one a mirror serves inconsistently. */
  hostSuites?: string[];
  /** Apt/deb cache (default ~/.cache/ota, shared with `ota build`). */
  cacheDir?: string;
  /** Progress lines (step times, console highlights). */
  log?: (line: string) => void;
}

export interface BuiltImage {
  ref: string;
  checksum: string;
  kernel: string;
  packages: number;
  noop: boolean;
}

export interface BootRun {
  /** The console, CRs removed. */
  console: string;
  /** `exited`: qemu stopped by itself (a reset or panic reboot under -no-reboot); `until`: the harness stopped it on the marker. */
  ended: 'exited' | 'until';
  seconds: number;
  /** From `ota-e2e: booted <checksum>`, if the boot got that far. */
  booted?: string;
  /** The kernel's panic message, if it panicked. */
  panic?: string;
  /** The OSTree entries the bootloader started, in order (one, unless an entry could not be loaded). */
  entries: BootedEntry[];
  /** The kernel's command line, if it got that far. */
  cmdline?: string;
  /** The env after the boot, as on the disk (ota.env, or the 1024-byte grubenv). */
  env: string;
  state: BootState;
}

export interface BootOptions {
  firmware: string;
  /** Stop qemu once this shows on the console (else: wait until it exits by itself). */
  until?: RegExp;
  timeoutMs: number;
  name: string;
  /** qemu's network arguments (default `-nic none`); `signal` stops qemu as `until` does. */
  net?: string[];
  signal?: AbortSignal;
}

/** A disk made by `ota image`, with OSTree's boot entries as the bootloader reads them. */
export type E2eDisk = ImageResult & { entries: DiskEntry[] };

export class E2e {
  private constructor(
    readonly options: E2eOptions,
    readonly board: Board,
    readonly repoPath: string,
    /** What differs between U-Boot and GRUB here. */
    readonly bootloader: E2eBootloader,
    private readonly started: number,
  ) {}

  static async create(options: E2eOptions): Promise<E2e> {
    const { board } = await loadBoard(options.board);
    if (!board.qemu) throw new OtaError('ERR_OTA_BOARD', `${board.name} has no qemu: section, so it cannot be booted here`);
    const bootloader = e2eBootloader(board);
    await mkdir(options.work, { recursive: true });
    return new E2e(options, board, join(options.work, 'repo'), bootloader, Date.now());
  }

  log(line: string): void {
    this.options.log?.(line);
  }

  /** Seconds since create(), for the step lines. */
  elapsed(): number {
    return (Date.now() - this.started) / 1000;
  }

  /** Runs one step, logging its start and its time. */
  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    this.log(`[${fmt(this.elapsed())}] ${name} ...`);
    try {
      const r = await fn();
      this.log(`[${fmt(this.elapsed())}] ${name}: done in ${fmt((Date.now() - t0) / 1000)}`);
      return r;
    } catch (e) {
      this.log(`[${fmt(this.elapsed())}] ${name}: FAILED after ${fmt((Date.now() - t0) / 1000)}`);
      throw e;
    }
  }

  /**
   * The signed local archive holding `ota-e2e-report` (a `file:` source), and the manifest:
   * minbase + systemd-sysv from the host's apt sources, plus the report package, on this board.
   */
  async writeManifest(): Promise<{ manifest: string }> {
    const dir = this.options.work;
    await writeLocalArchive(dir, this.board.arch, [REPORT_PACKAGE, LEAN_PACKAGE], 'deb-ota e2e');
    const manifest = join(dir, 'image.yaml');
    await writeFile(manifest, manifestLines({
      comment: 'deb-ota e2e: the reference image, plus a unit that reports the booted deployment on the console',
      name: 'e2e', board: this.board, dir, hostSuites: this.options.hostSuites, packages: ['systemd-sysv', 'ota-e2e-report', 'ota-e2e-lean'],
    }).join('\n'));
    return { manifest };
  }

  /** `ota build` of the manifest (locked first). */
  async buildReference(manifest: string): Promise<BuiltImage> {
    let last = 0;
    const r = await build({
      inputs: [manifest],
      repoPath: this.repoPath,
      cacheDir: this.options.cacheDir,
      onEvent: (e) => {
        // phases and every 20 s, not every download
        if (progressOf(e).current === undefined || Date.now() - last > 20_000) {
          last = Date.now();
          this.log(`    build| ${e.phase}: ${e.message}`);
        }
      },
    });
    const img = r.images[0]!;
    return { ref: img.ref, checksum: img.checksum, kernel: img.kernels[0] ?? '', packages: img.packages, noop: img.noop };
  }

  /**
   * Commit B: A's tree with an initramfs whose /init the kernel cannot execute, so the kernel
   * panics ("No working init found") and `panic=5` reboots it; the same kernel, so the deployment
   * differs only in its boot checksum. A garbage (non-cpio) initramfs would not do: the kernel
   * then waits forever for root=UUID=... (rootwait), which only an initramfs can resolve.
   */
  async makeBrokenUpdate(ref: string, brokenRef: string): Promise<BuiltImage> {
    return this.withInitramfs(ref, brokenRef, brokenInitramfs(), `${ref} with an initramfs that cannot start init (deb-ota e2e)`);
  }

  /** A commit of `ref`'s tree with its kernel's initramfs.img replaced, metadata kept, at `newRef`. */
  async withInitramfs(ref: string, newRef: string, initramfs: Buffer, subject: string): Promise<BuiltImage> {
    const r = await commitLayer({ repoPath: this.repoPath, work: this.options.work, base: ref, ref: newRef, subject }, async (dir, kernel) => {
      if (!kernel) throw new Error(`${ref} has no ostree.linux`);
      const path = join('usr/lib/modules', kernel, 'initramfs.img');
      await layerDirs(dir, path);
      await writeFile(join(dir, path), initramfs, { mode: 0o644 });
    });
    return { ref: newRef, checksum: r.checksum, kernel: r.kernel, packages: 0, noop: false };
  }

  /** `ota image` of refs[0], with refs[1..] deployed after it (the last is OSTree's entry 0). */
  async makeDisk(name: string, refs: string[]): Promise<E2eDisk> {
    const r = await makeImage({ board: this.board.name, repoPath: this.repoPath, ref: refs[0]!, alsoDeploy: refs.slice(1), output: join(this.options.work, name) });
    return { ...r, entries: await this.bootloader.diskEntries(r, this.options.work) };
  }

  /** The firmware qemu starts (board.yaml `qemu.firmware`): from the commit (U-Boot the image locked), else the host's (OVMF). */
  async firmware(ref: string): Promise<string> {
    const path = this.board.qemu!.firmware;
    const out = join(this.options.work, `firmware-${this.board.name}.bin`);
    const repo = await Repo.open(this.repoPath);
    try {
      await writeFile(out, await catFile(repo, ref, path));
      return out;
    } catch {
      if (existsSync(path)) return path;
      throw new OtaError('ERR_OTA_BOARD', `${ref} has no ${path} and neither has this machine`, { hint: `install ${this.bootloader.firmwarePackage} (scripts/setup)` });
    } finally {
      repo.close();
    }
  }

  /** Where the env is, for mtools: `disk.img@@offset` and the path on that vfat partition. */
  private envAt(disk: ImageResult): { image: string; path: string } {
    const { partition, path } = this.bootloader.env;
    const p = disk.plan.partitions.find((x) => x.label === partition);
    if (!p) throw new Error(`${this.board.name}: no partition ${partition} for the env, this is a bug`);
    return { image: `${disk.output}@@${p.offsetBytes}`, path: `::/${path}` };
  }

  /** The env as on the disk, raw and parsed. */
  async readEnv(disk: ImageResult): Promise<{ text: string; state: BootState }> {
    const at = this.envAt(disk);
    const bl = this.bootloader;
    const { stdout } = await run(`read ${bl.envName}`, ['mcopy', '-i', at.image, at.path, '-'], { env: MTOOLS_ENV, binary: true });
    return { text: stdout.toString('utf8'), state: bootStateFromVars(bl.parseEnv(stdout), bl.envName, this.board.bootloader.bootlimit) };
  }

  /** What the agent does after deploying an update: armForUpgrade through the board's backend, on a staged copy written back with mtools. */
  async armUpgrade(disk: ImageResult): Promise<BootState> {
    const staged = await mkdtemp(join(this.options.work, 'env-'));
    const at = this.envAt(disk);
    const { path } = this.bootloader.env;
    // every copy the backend keeps (U-Boot: ota.env and ota.bak), under the same names
    const copies = this.bootloader.copies(path);
    try {
      for (const c of copies) await run(`copy ${c} out`, ['mcopy', '-o', '-i', at.image, `::/${c}`, join(staged, basename(c))], { env: MTOOLS_ENV });
      const bl = this.bootloader.backend(join(staged, basename(path)), this.board.bootloader.bootlimit);
      const state = await bl.setState(armForUpgrade(await bl.getState()));
      for (const c of copies) await run(`copy ${c} back`, ['mcopy', '-o', '-i', at.image, join(staged, basename(c)), `::/${c}`], { env: MTOOLS_ENV });
      return state;
    } finally {
      await rm(staged, { recursive: true, force: true });
    }
  }

  /**
   * One boot under qemu-system: until qemu exits by itself (a reset or reboot under -no-reboot), or
   * until `until` shows on the console (then qemu is stopped); `timeoutMs` kills a hung boot and fails.
   */
  async boot(disk: E2eDisk, options: BootOptions): Promise<BootRun> {
    const q = this.board.qemu!;
    const log = join(this.options.work, `${options.name}.console.log`);
    await writeFile(log, '');
    const argv = [
      q.system, '-M', q.machine, ...(q.cpu ? ['-cpu', q.cpu] : []), '-smp', '2', '-m', String(q.memoryMiB),
      '-display', 'none', '-monitor', 'none', '-serial', `file:${log}`, '-no-reboot', ...(options.net ?? ['-nic', 'none']),
      '-bios', options.firmware, ...this.bootloader.qemuDisk(disk.output),
    ];
    const t0 = Date.now();
    const stop = new AbortController();
    let why: 'until' | 'timeout' | undefined;
    const timer = setTimeout(() => {
      why = 'timeout';
      stop.abort();
    }, options.timeoutMs);
    const onStop = () => {
      why ??= 'until';
      stop.abort();
    };
    if (options.signal?.aborted) onStop();
    options.signal?.addEventListener('abort', onStop);
    let offset = 0;
    let partial = '';
    let seen = '';
    const fh = await open(log, 'r');
    const poll = async () => {
      const buf = Buffer.alloc(65536);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        const text = partial + buf.subarray(0, bytesRead).toString('utf8').replace(/\r/g, '');
        const lines = text.split('\n');
        partial = lines.pop()!;
        for (const line of lines) {
          seen += `${line}\n`;
          const clean = line.replace(ANSI, '').replace(/^\[\s*\d+\.\d+\]\s*/, '');
          const m = INTERESTING.exec(clean);
          if (m) this.log(`    ${options.name} +${fmt((Date.now() - t0) / 1000)}| ${clean.slice(m.index, m.index + 160)}`);
        }
      }
      if (options.until && !why && options.until.test(seen)) {
        why = 'until';
        stop.abort();
      }
    };
    let polling = Promise.resolve();
    const interval = setInterval(() => {
      polling = polling.then(poll);
    }, 250);
    try {
      await run(`boot ${options.name} under ${q.system}`, argv, { signal: stop.signal }).catch((e: unknown) => {
        if (!stop.signal.aborted) throw e;
      });
    } finally {
      clearTimeout(timer);
      clearInterval(interval);
      options.signal?.removeEventListener('abort', onStop);
      await polling;
      await poll();
      await fh.close();
    }
    const seconds = (Date.now() - t0) / 1000;
    const consoleText = (await readFile(log, 'utf8')).replace(/\r/g, '').replace(ANSI, '');
    if (why === 'timeout') {
      throw new OtaError('ERR_OTA_EXEC', `${options.name}: no ${options.until ? `/${options.until.source}/ on the console` : 'reset or panic reboot'} within ${options.timeoutMs / 1000} s; qemu killed`, { details: consoleText.trim().split('\n').slice(-25) });
    }
    const env = await this.readEnv(disk);
    return {
      console: consoleText,
      ended: why === 'until' ? 'until' : 'exited',
      seconds,
      booted: BOOTED.exec(consoleText)?.[1],
      panic: KERNEL_PANIC.exec(consoleText)?.[1]?.trim(),
      entries: this.bootloader.bootedEntries(consoleText, disk.entries),
      cmdline: CMDLINE.exec(consoleText)?.[1]?.trim(),
      env: env.text,
      state: env.state,
    };
  }
}

/** `12.3s` or `2m03.4s`. */
export function fmt(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  return `${m}m${(seconds - m * 60).toFixed(1).padStart(4, '0')}s`;
}

/** The env as one line, `bootcount=1 bootlimit=3 rollback=0 upgrade_available=1`: no NUL (ota.env), no comments or `#` padding (grubenv). */
export function envLine(text: string): string {
  return text.replace(/\0/g, '').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).join(' ');
}
