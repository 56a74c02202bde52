/**
 * Issue 5's proof, as steps both `scripts/e2e-boot` and the `vm` test tier run: the reference
 * image built for a U-Boot qemu board, made into a disk, booted under qemu-system with the U-Boot
 * the image itself locked, and then an update whose initramfs cannot start init deployed next to
 * it, counted by the boot script and rolled back by U-Boot on its own.
 *
 * The booted deployment is read from the console: the image carries a tiny package built here
 * (`ota-e2e-report`, from a signed local archive the manifest names as a second source) whose
 * systemd unit, ordered after multi-user.target, writes `ota-e2e: booted <checksum>` (resolved
 * from /proc/cmdline's `ostree=` link) and `ota-e2e: multi-user` to /dev/console.
 *
 * Each qemu run is one boot: `-no-reboot` turns the panicking kernel's reboot (`panic=5` is in the
 * board's arguments) into qemu exiting; a boot that reaches multi-user is stopped by the harness
 * once the marker shows. ota.env is read between boots with mtools.
 *
 * @example
 * const e2e = await E2e.create({ board: 'qemu-arm64', work: '/tmp/e2e', log: console.log });
 * const a = await e2e.buildReference();
 * const disk = await e2e.makeDisk('a.img', [a.ref]);
 * const boot = await e2e.boot(disk, { until: MULTI_USER });
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../common/exec.js';
import { OtaError } from '../../common/errors.js';
import { armForUpgrade, type BootState } from '../../bootloader/state.js';
import { bootStateFromVars } from '../../bootloader/state-vars.js';
import { ubootBackend } from '../../bootloader/uboot/backend.js';
import { parseUbootEnvText } from '../../bootloader/uboot/env-text.js';
import { loadBoard } from '../../host-tools/board/load.js';
import type { Board } from '../../host-tools/board/schema.js';
import { build } from '../../host-tools/build/build.js';
import { makeImage, type ImageResult } from '../../host-tools/image/disk-image.js';
import { catFile, commitDirectory, commitUnion, encodeMetadata, readCommit, Repo } from '../../node-ostree/index.js';
import { buildArchive, disposeGpgKey, makeGpgKey, serveDirectory, type FixtureServer, type GpgKey } from '../helpers/fixture-archive.js';

/** What the report unit writes once multi-user.target is reached. */
export const MULTI_USER = /ota-e2e: multi-user$/m;
/** The kernel's last words before `panic=5` reboots it. */
export const KERNEL_PANIC = /Kernel panic - not syncing: (.*)$/m;
const BOOTED = /ota-e2e: booted ([0-9a-f]{64})\b/m;
// eslint-disable-next-line no-control-regex -- systemd colours its status lines
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const MTOOLS_ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
/** Console lines worth showing while a boot runs. */
const INTERESTING = /^(ota:|ota-e2e:|U-Boot 20\d\d|Found U-Boot script|Booting Linux on|Run \/init|Failed to execute|Kernel panic|Rebooting in|Welcome to|\S+ login:)/;

export interface E2eOptions {
  /** Board name (boards/<name>) with a `qemu:` section and a U-Boot text-file env. */
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
  /** `ota: booting OSTree entry N: <kernel>` lines, in order. */
  entries: { entry: number; kernel: string }[];
  /** ota.env after the boot. */
  env: string;
  state: BootState;
}

export class E2e {
  private constructor(
    readonly options: E2eOptions,
    readonly board: Board,
    readonly repoPath: string,
    private readonly started: number,
  ) {}

  static async create(options: E2eOptions): Promise<E2e> {
    const { board } = await loadBoard(options.board);
    if (!board.qemu) throw new OtaError('ERR_OTA_BOARD', `${board.name} has no qemu: section, so it cannot be booted here`);
    if (board.bootloader.type !== 'uboot' || board.bootloader.env.kind !== 'text-file') {
      throw new OtaError('ERR_OTA_BOARD', `the e2e boot test drives U-Boot boards with a text-file env; ${board.name} has ${board.bootloader.type}`);
    }
    await mkdir(options.work, { recursive: true });
    return new E2e(options, board, join(options.work, 'repo'), Date.now());
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
   * The signed local archive holding `ota-e2e-report`, served on 127.0.0.1 (`ota build` cannot
   * download debs from a `file:` source yet: common/http.ts downloadFile goes through fetch(),
   * which has no file: scheme, while `ota lock` reads file: indices fine), and the manifest:
   * minbase + systemd-sysv from the host's apt sources, plus the report package, on this board.
   * Close the returned server after the build.
   */
  async writeManifest(): Promise<{ manifest: string; server: FixtureServer }> {
    const dir = this.options.work;
    let key: GpgKey | undefined;
    try {
      key = await makeGpgKey(dir, 'deb-ota e2e');
      await buildArchive(join(dir, 'archive'), [{
        suite: 'e2e',
        arches: [this.board.arch],
        // Older than Debian's: the host archive's Date stays the build's newest (the commit time).
        date: new Date('2023-06-10T00:00:00Z'),
        listUncompressed: true,
        components: { main: [REPORT_PACKAGE] },
      }], { key });
      await writeFile(join(dir, 'archive-key.asc'), await readFile(key.armored));
    } finally {
      if (key) {
        await disposeGpgKey(key);
        await rm(join(key.home, '..'), { recursive: true, force: true });
      }
    }
    const server = await serveDirectory(join(dir, 'archive'));
    const manifest = join(dir, 'image.yaml');
    await writeFile(manifest, [
      '# deb-ota e2e: the reference image, plus a unit that reports the booted deployment on the console',
      'name: e2e',
      `arch: ${this.board.arch}`,
      `board: ${this.board.name}`,
      'sources:',
      '  - uri: host',
      ...(this.options.hostSuites ? [`    suites: [${this.options.hostSuites.join(', ')}]`] : []),
      `  - uri: ${server.url}`,
      '    suites: [e2e]',
      '    components: [main]',
      '    keyring: archive-key.asc',
      'variant: minbase',
      'packages: [systemd-sysv, ota-e2e-report]',
      '',
    ].join('\n'));
    return { manifest, server };
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
        if (e.current === undefined || Date.now() - last > 20_000) {
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
    const repo = await Repo.open(this.repoPath);
    const layerDir = await mkdtemp(join(this.options.work, 'layer-'));
    try {
      const a = readCommit(repo, ref);
      const kernel = String(a.metadata.get('ostree.linux')?.value ?? '');
      if (!kernel) throw new Error(`${ref} has no ostree.linux`);
      await mkdir(join(layerDir, 'usr/lib/modules', kernel), { recursive: true });
      for (const d of ['usr', 'usr/lib', 'usr/lib/modules', `usr/lib/modules/${kernel}`]) await chmod(join(layerDir, d), 0o755);
      await writeFile(join(layerDir, 'usr/lib/modules', kernel, 'initramfs.img'), initramfs, { mode: 0o644 });
      const layer = await commitDirectory(repo, layerDir, { owner: { uid: 0, gid: 0 }, skipXattrs: true });
      const b = await commitUnion(repo, [a.checksum, layer.checksum], {
        ref: newRef,
        parent: a.checksum,
        timestamp: a.timestamp,
        subject,
        metadata: encodeMetadata(Object.fromEntries(a.metadata)),
      });
      return { ref: newRef, checksum: b.checksum, kernel, packages: 0, noop: false };
    } finally {
      repo.close();
      await rm(layerDir, { recursive: true, force: true });
    }
  }

  /** `ota image` of refs[0], with refs[1..] deployed after it (the last is OSTree's entry 0). */
  async makeDisk(name: string, refs: string[]): Promise<ImageResult & { uEnv: Map<string, string> }> {
    const r = await makeImage({ board: this.board.name, repoPath: this.repoPath, ref: refs[0]!, alsoDeploy: refs.slice(1), output: join(this.options.work, name) });
    const root = r.plan.partitions.find((p) => p.role === 'root')!;
    const { stdout } = await run('read uEnv.txt', ['debugfs', '-R', 'cat /boot/loader/uEnv.txt', `${r.output}?offset=${root.offsetBytes}`]);
    return { ...r, uEnv: parseUbootEnvText(stdout, 'uEnv.txt') };
  }

  /** The U-Boot the image locked (board.yaml `qemu.firmware`, from the commit), else the host's. */
  async firmware(ref: string): Promise<string> {
    const path = this.board.qemu!.firmware;
    const out = join(this.options.work, `firmware-${this.board.name}.bin`);
    const repo = await Repo.open(this.repoPath);
    try {
      await writeFile(out, await catFile(repo, ref, path));
      return out;
    } catch {
      if (existsSync(path)) return path;
      throw new OtaError('ERR_OTA_BOARD', `${ref} has no ${path} and neither has this machine`, { hint: 'install u-boot-qemu (scripts/setup)' });
    } finally {
      repo.close();
    }
  }

  private bootPartition(disk: ImageResult): number {
    const bl = this.board.bootloader;
    if (bl.type !== 'uboot' || bl.env.kind !== 'text-file') throw new Error('unreachable');
    const label = bl.env.partition;
    return disk.plan.partitions.find((p) => p.label === label)!.offsetBytes;
  }

  private envPath(): string {
    const bl = this.board.bootloader;
    return bl.type === 'uboot' && bl.env.kind === 'text-file' ? bl.env.path : 'ota.env';
  }

  /** ota.env as on the disk, raw and parsed. */
  async readEnv(disk: ImageResult): Promise<{ text: string; state: BootState }> {
    const { stdout } = await run('read ota.env', ['mcopy', '-i', `${disk.output}@@${this.bootPartition(disk)}`, `::/${this.envPath()}`, '-'], { env: MTOOLS_ENV, binary: true });
    const text = stdout.toString('utf8');
    return { text, state: bootStateFromVars(parseUbootEnvText(text, 'ota.env'), 'ota.env', this.board.bootloader.type === 'uboot' ? this.board.bootloader.bootlimit : 3) };
  }

  /** What the agent does after deploying an update: armForUpgrade through the U-Boot backend, on a staged copy written back with mtools. */
  async armUpgrade(disk: ImageResult): Promise<BootState> {
    const staged = join(this.options.work, 'ota.env.staged');
    const at = `${disk.output}@@${this.bootPartition(disk)}`;
    await run('copy ota.env out', ['mcopy', '-o', '-i', at, `::/${this.envPath()}`, staged], { env: MTOOLS_ENV });
    const bl = ubootBackend({ envPath: staged, defaultBootlimit: this.board.bootloader.type === 'uboot' ? this.board.bootloader.bootlimit : 3 });
    const state = await bl.setState(armForUpgrade(await bl.getState()));
    await run('copy ota.env back', ['mcopy', '-o', '-i', at, staged, `::/${this.envPath()}`], { env: MTOOLS_ENV });
    return state;
  }

  /**
   * One boot under qemu-system: until qemu exits by itself (reset or panic reboot under
   * -no-reboot), or until `until` shows on the console (then qemu is stopped); `timeoutMs` kills a
   * hung boot and fails.
   */
  async boot(disk: ImageResult, options: { firmware: string; until?: RegExp; timeoutMs: number; name: string }): Promise<BootRun> {
    const q = this.board.qemu!;
    const log = join(this.options.work, `${options.name}.console.log`);
    await writeFile(log, '');
    const argv = [
      q.system, '-M', q.machine, ...(q.cpu ? ['-cpu', q.cpu] : []), '-smp', '2', '-m', String(q.memoryMiB),
      '-display', 'none', '-monitor', 'none', '-serial', `file:${log}`, '-no-reboot', '-nic', 'none',
      '-bios', options.firmware,
      '-drive', `if=none,file=${disk.output},format=raw,id=d`, '-device', 'virtio-blk-device,drive=d',
    ];
    const t0 = Date.now();
    const stop = new AbortController();
    let why: 'until' | 'timeout' | undefined;
    const timer = setTimeout(() => {
      why = 'timeout';
      stop.abort();
    }, options.timeoutMs);
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
          if (INTERESTING.test(clean)) this.log(`    ${options.name} +${fmt((Date.now() - t0) / 1000)}| ${line.slice(0, 160)}`);
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
      await polling;
      await poll();
      await fh.close();
    }
    const seconds = (Date.now() - t0) / 1000;
    const consoleText = (await readFile(log, 'utf8')).replace(/\r/g, '');
    if (why === 'timeout') {
      throw new OtaError('ERR_OTA_EXEC', `${options.name}: no ${options.until ? `/${options.until.source}/ on the console` : 'reset or panic reboot'} within ${options.timeoutMs / 1000} s; qemu killed`, { details: consoleText.trim().split('\n').slice(-25) });
    }
    const env = await this.readEnv(disk);
    const entries = [...consoleText.matchAll(/^ota: booting OSTree entry (\d+): (\S+)/gm)].map((m) => ({ entry: Number(m[1]), kernel: m[2]! }));
    return {
      console: consoleText,
      ended: why === 'until' ? 'until' : 'exited',
      seconds,
      booted: BOOTED.exec(consoleText)?.[1],
      panic: KERNEL_PANIC.exec(consoleText)?.[1]?.trim(),
      entries,
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

/** ota.env as one line: `bootcount=1 bootlimit=3 rollback=0 upgrade_available=1`. */
export function envLine(text: string): string {
  return text.replace(/\0/g, '').trim().split('\n').join(' ');
}

const REPORT_SCRIPT = `#!/bin/sh
# deb-ota e2e: tells the test harness on the console which OSTree deployment booted.
link=
for arg in $(cat /proc/cmdline); do
  case "$arg" in ostree=*) link=\${arg#ostree=} ;; esac
done
deployment=$(readlink -f "/sysroot$link" 2>/dev/null || readlink -f "$link" 2>/dev/null)
name=$(basename "$deployment")
{
  echo "ota-e2e: booted \${name%%.*} ($link -> $deployment)"
  echo "ota-e2e: multi-user"
} > /dev/console
`;

const REPORT_UNIT = `[Unit]
Description=deb-ota e2e: report the booted OSTree deployment on the console
# Ordered after the target that wants it: without default dependencies the target adds no
# After= on this unit, so there is no ordering cycle.
DefaultDependencies=no
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/libexec/ota-e2e-report

[Install]
WantedBy=multi-user.target
`;

/** The report package: a script, its unit, and the unit's wants link (no maintainer scripts). */
export const REPORT_PACKAGE = {
  name: 'ota-e2e-report',
  version: '1.0',
  arch: 'all',
  priority: 'optional',
  description: 'deb-ota e2e: report the booted OSTree deployment on the console',
  files: {
    '/usr/libexec/ota-e2e-report': REPORT_SCRIPT,
    '/usr/lib/systemd/system/ota-e2e-report.service': REPORT_UNIT,
  },
  modes: { '/usr/libexec/ota-e2e-report': 0o755 },
  symlinks: { '/usr/lib/systemd/system/multi-user.target.wants/ota-e2e-report.service': '../ota-e2e-report.service' },
};

/**
 * A valid uncompressed initramfs (cpio "newc") holding only /init, a mode 0755 file that is not
 * an executable: the kernel unpacks it, fails to run /init (ENOEXEC), finds no other init and
 * panics "No working init found".
 */
export function brokenInitramfs(): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const entry = (name: string, mode: number, data: Buffer, ino: number) => {
    const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0];
    const header = `070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`;
    const head = Buffer.concat([Buffer.from(header, 'latin1'), Buffer.from(`${name}\0`, 'latin1')]);
    parts.push(head, pad4(head.length), data, pad4(data.length));
  };
  entry('init', 0o100755, Buffer.from('this initramfs is broken on purpose (deb-ota e2e): /init is not a program\n'), 1);
  entry('TRAILER!!!', 0, Buffer.alloc(0), 0);
  const out = Buffer.concat(parts);
  return Buffer.concat([out, Buffer.alloc((512 - (out.length % 512)) % 512)]);
}

// ---------------------------------------------------------------------------------------------
// The scenario

export interface ScenarioOptions {
  /** Also deploy the broken update B next to A and boot until U-Boot has rolled back (default true). */
  rollback?: boolean;
  /** Kills a boot that has not reached multi-user by then (default 15 min: about 2 min here under TCG). */
  multiUserTimeoutMs?: number;
  /** Kills a boot of B that has not panicked and reset by then (default 5 min). */
  panicTimeoutMs?: number;
}

export interface ScenarioResult {
  board: string;
  a: BuiltImage;
  diskA: ImageResult & { uEnv: Map<string, string> };
  bootA: BootRun;
  b?: BuiltImage;
  diskAB?: ImageResult & { uEnv: Map<string, string> };
  /** ota.env after arming, as on the disk. */
  armed?: string;
  /** The boots of the two-deployment disk: bootlimit ones on B, then the one U-Boot rolled back. */
  rollbackBoots?: BootRun[];
  steps: { name: string; seconds: number }[];
}

export async function runScenario(e2e: E2e, options: ScenarioOptions = {}): Promise<ScenarioResult> {
  const steps: ScenarioResult['steps'] = [];
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const r = await e2e.step(name, fn);
    steps.push({ name, seconds: (Date.now() - t0) / 1000 });
    return r;
  };
  const multiUser = options.multiUserTimeoutMs ?? 15 * 60_000;
  const panicMs = options.panicTimeoutMs ?? 5 * 60_000;
  const bootlimit = e2e.board.bootloader.type === 'uboot' ? e2e.board.bootloader.bootlimit : 3;

  const { manifest, server } = await step('1a. signed local archive with ota-e2e-report (dpkg-deb), served on 127.0.0.1, + manifest', () => e2e.writeManifest());
  let a: BuiltImage;
  try {
    a = await step(`1b. ota build ${manifest} (minbase + systemd-sysv + ota-e2e-report, ${e2e.board.name})`, () => e2e.buildReference(manifest));
  } finally {
    await server.close();
  }
  e2e.log(`    A = ${a.ref} ${a.checksum} (kernel ${a.kernel}, ${a.packages} packages${a.noop ? ', built already' : ''})`);
  const firmware = await e2e.firmware(a.ref);
  const diskA = await step('2a. ota image (A alone)', () => e2e.makeDisk('a.img', [a.ref]));
  e2e.log(`    ${diskA.output}: ${Math.round(diskA.plan.totalBytes / 2 ** 20)} MiB, kernel_image=${diskA.uEnv.get('kernel_image')}`);
  e2e.log(`    ota.env: ${envLine((await e2e.readEnv(diskA)).text)}`);
  const bootA = await step('2b. boot A under qemu to multi-user', () => e2e.boot(diskA, { firmware, until: MULTI_USER, timeoutMs: multiUser, name: 'boot-A' }));
  e2e.log(`    booted ${bootA.booted ?? '(nothing reported)'} in ${fmt(bootA.seconds)}: ${bootA.booted === a.checksum ? 'the built commit A' : 'NOT the built commit'}`);
  const result: ScenarioResult = { board: e2e.board.name, a, diskA, bootA, steps };
  if (options.rollback === false) return result;

  const b = await step('3a. commit B = A with an initramfs that cannot start init', () => e2e.makeBrokenUpdate(a.ref, `${a.ref}-broken`));
  e2e.log(`    B = ${b.ref} ${b.checksum}`);
  const diskAB = await step('3b. ota image with A, then B deployed as the default (entry 0 = B, entry 1 = A)', () => e2e.makeDisk('ab.img', [a.ref, b.ref]));
  e2e.log(`    kernel_image=${diskAB.uEnv.get('kernel_image')}`);
  e2e.log(`    kernel_image2=${diskAB.uEnv.get('kernel_image2')}`);
  await step('3c. arm the update (U-Boot backend armForUpgrade on a staged ota.env, mtools)', () => e2e.armUpgrade(diskAB));
  const armed = (await e2e.readEnv(diskAB)).text;
  e2e.log(`    ota.env: ${envLine(armed)}`);
  Object.assign(result, { b, diskAB, armed, rollbackBoots: [] });
  for (let n = 1; n <= bootlimit; n++) {
    const r = await step(`3d. boot ${n} of ${bootlimit} on B (expect a kernel panic and a reset)`, () => e2e.boot(diskAB, { firmware, timeoutMs: panicMs, name: `boot-B${n}` }));
    result.rollbackBoots!.push(r);
    e2e.log(`    entry ${r.entries.map((x) => x.entry).join(',')}, panic: ${r.panic ?? 'none'}; ota.env: ${envLine(r.env)}`);
  }
  const rb = await step(`3e. boot ${bootlimit + 1}: U-Boot falls back to A by itself, to multi-user`, () => e2e.boot(diskAB, { firmware, until: MULTI_USER, timeoutMs: multiUser, name: 'boot-rollback' }));
  result.rollbackBoots!.push(rb);
  e2e.log(`    entry ${rb.entries.map((x) => x.entry).join(',')}, booted ${rb.booted ?? '(nothing reported)'}: ${rb.booted === a.checksum ? 'A' : rb.booted === b.checksum ? 'B!' : 'unknown'}; ota.env: ${envLine(rb.env)}`);
  return result;
}

/** Every claim the proof makes, as checks that pass or fail with what was seen. */
export function checkScenario(r: ScenarioResult, bootlimit = 3): { what: string; ok: boolean; seen: string }[] {
  const out: { what: string; ok: boolean; seen: string }[] = [];
  const check = (what: string, ok: boolean, seen: string) => out.push({ what, ok, seen });
  const k0 = r.diskA.uEnv.get('kernel_image');
  check('A: U-Boot ran boot.scr and booted OSTree entry 0 (A\'s kernel)', r.bootA.entries.length === 1 && r.bootA.entries[0]!.entry === 0 && r.bootA.entries[0]!.kernel === k0, JSON.stringify(r.bootA.entries));
  check('A: reached multi-user.target', r.bootA.ended === 'until' && MULTI_USER.test(r.bootA.console), r.bootA.ended);
  check('A: the booted deployment is the built commit', r.bootA.booted === r.a.checksum, `${r.bootA.booted} vs ${r.a.checksum}`);
  check('A: nothing pending, nothing counted', r.bootA.state.bootcount === 0 && !r.bootA.state.upgradeAvailable && !r.bootA.state.rollback, envLine(r.bootA.env));
  if (!r.b || !r.diskAB || !r.rollbackBoots) return out;
  const bKernel = r.diskAB.uEnv.get('kernel_image');
  const aKernel = r.diskAB.uEnv.get('kernel_image2');
  check('A+B disk: entry 0 is B (new boot checksum), entry 1 is A', bKernel !== undefined && aKernel === k0 && bKernel !== aKernel, `${bKernel} / ${aKernel}`);
  check('armed: bootcount=0 upgrade_available=1 rollback=0', /^bootcount=0$/m.test(r.armed ?? '') && /^upgrade_available=1$/m.test(r.armed ?? '') && /^rollback=0$/m.test(r.armed ?? ''), envLine(r.armed ?? ''));
  for (let n = 1; n <= bootlimit; n++) {
    const boot = r.rollbackBoots[n - 1];
    if (!boot) {
      check(`B boot ${n}: happened`, false, 'missing');
      continue;
    }
    check(`B boot ${n}: U-Boot booted entry 0 (B)`, boot.entries.length === 1 && boot.entries[0]!.entry === 0 && boot.entries[0]!.kernel === bKernel, JSON.stringify(boot.entries));
    check(`B boot ${n}: the kernel panicked and qemu exited on the reboot`, boot.ended === 'exited' && boot.panic !== undefined && boot.booted === undefined, `${boot.ended}, ${boot.panic}`);
    check(`B boot ${n}: ota.env bootcount=${n} upgrade_available=1 rollback=0`, boot.state.bootcount === n && boot.state.upgradeAvailable && !boot.state.rollback, envLine(boot.env));
  }
  const rb = r.rollbackBoots[bootlimit];
  if (!rb) {
    check('rollback boot: happened', false, 'missing');
    return out;
  }
  check(`rollback boot: U-Boot says boot ${bootlimit + 1} is past bootlimit ${bootlimit}`, rb.console.includes(`ota: boot ${bootlimit + 1} is past bootlimit ${bootlimit}: falling back to the previous deployment`), '');
  check('rollback boot: U-Boot booted entry 1 (A\'s kernel)', rb.entries.length === 1 && rb.entries[0]!.entry === 1 && rb.entries[0]!.kernel === aKernel, JSON.stringify(rb.entries));
  check('rollback boot: ota.env rollback=1 upgrade_available=0', rb.state.rollback && !rb.state.upgradeAvailable && rb.state.bootcount === bootlimit + 1, envLine(rb.env));
  check('rollback boot: A reached multi-user, and A is what booted', rb.ended === 'until' && rb.booted === r.a.checksum, `${rb.ended}, ${rb.booted}`);
  return out;
}
