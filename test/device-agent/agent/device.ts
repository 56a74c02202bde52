/**
 * A whole device in a temp dir for the agent's scenario and crash tests
 * (docs/agent.md, "Joining the parts"): everything the agent reads is real, and only what sits at a
 * process boundary is a stand-in.
 *
 * - a real OSTree sysroot running release 1.0, pulled from a published directory that the real
 *   `ota keys generate` and `ota publish` made (update/harness.ts), served over HTTP on 127.0.0.1;
 * - a root with `usr/lib/ota/agent.yaml` (what the image ships) and `etc/ota/agent.yaml` (what the
 *   device is), read through the real configuration layering with `ota-agent --root`;
 * - the real U-Boot `ota.env`, or for GRUB boards a real grubenv and a grub.cfg rendered from
 *   OSTree's entries;
 * - health scripts in `<root>/etc/ota/health/required.d` and `wanted.d`;
 * - the stand-in reboot: a script the configuration's `rebootCommand` runs, which appends a line to
 *   `reboot-requests` instead of rebooting;
 * - the stand-in boot (stand-in-boot.ts): what the boot script does, writing the kernel command line
 *   to the file the configuration's `kernelCommandLine` names.
 */
import { chmod, copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bootStateToVars, initialBootState, readOstreeBlsEntries, renderGrubConfig, type BootloaderBackend } from '../../../bootloader/index.js';
import { writeGrubEnv } from '../../../bootloader/grub/env.js';
import { writeUbootEnvText } from '../../../bootloader/uboot/env-text.js';
import { bootloaderBackendFor } from '../../../device-agent/config/bootloader.js';
import type { BootloaderConfig } from '../../../device-agent/config/schema.js';
import { removeTree } from '../../helpers/ostree-cli.js';
import { standInBoot } from './stand-in-boot.js';
import { pull, Repo, type Sysroot } from '../../../node-ostree/index.js';
import { BOARD, device as deploy10, OS, REF, publisher, serve, type Publisher, type Release, type StaticServer } from '../update/harness.js';

/** What publishes releases and serves them: one per test file (beforeAll). */
export interface Fleet {
  root: string;
  publisher: Publisher;
  server: StaticServer;
  releases: Record<string, Release>;
  /** Publishes `version` (to group `lab`, as the devices are configured) and remembers it. */
  publish(version: string, ...more: string[]): Promise<Release>;
  close(): Promise<void>;
}

/** The group the harness's devices are in: update/harness.ts publishes to it. */
export const GROUP = 'lab';
export const BOOTLIMIT = 3;

/** Keys, the publisher, the static server, and `versions` published in order (the first is what devices run). */
export async function fleet(root: string, versions: string[]): Promise<Fleet> {
  const p = await publisher(root);
  const releases: Record<string, Release> = {};
  const publish = async (version: string, ...more: string[]) => (releases[version] = await p.publish(version, ...more));
  for (const v of versions) await publish(v);
  const server = await serve(p.pub);
  return { root, publisher: p, server, releases, publish, close: () => server.close() };
}

export interface DeviceOptions {
  /** A folder of its own (it is created). */
  dir: string;
  /** The release running (and deployed) at the start; default `1.0`. */
  running?: string;
  /** Releases deployed before it, oldest first (the last of them is the rollback deployment). */
  before?: string[];
  bootloader?: 'uboot' | 'grub';
  /** The board in the image's configuration (default: the board the releases are built for). */
  board?: string;
  /** More keys for `etc/ota/agent.yaml` (health and policy merge key by key over the image's). */
  etc?: Record<string, unknown>;
  /** Health scripts by file name: `required.d` and `wanted.d` under `<root>/etc/ota/health`. */
  checks?: { required?: Record<string, string>; wanted?: Record<string, string> };
}

export interface Device {
  dir: string;
  /** What `ota-agent --root` reads the configuration under. */
  root: string;
  sysroot: string;
  stateDir: string;
  /** The file the configuration's `kernelCommandLine` names: the stand-in boot writes it. */
  cmdline: string;
  /** One line per reboot the agent asked for: what the stand-in reboot writes. */
  rebootRequests: string;
  bootloader: BootloaderConfig;
  backend: BootloaderBackend;
  /** The commit of the release the device ran at the start. */
  running: Release;
}

export const GRUB_ENV_LOCATION = { label: 'ESP', path: '/EFI/ota/grubenv' };
export const GRUB_BOOT_LOCATION = { path: '/boot' };

/** A device running `options.running` (1.0), booted once by the stand-in boot's rules, configured to update from `f`. */
export async function makeDevice(f: Fleet, options: DeviceOptions): Promise<Device> {
  const { dir } = options;
  const running = f.releases[options.running ?? '1.0'];
  if (!running) throw new Error(`the fleet has no release ${options.running ?? '1.0'}`);
  const root = join(dir, 'root');
  const [first, ...rest] = [...(options.before ?? []).map((v) => f.releases[v]!), running];
  const sr = await deploy10(dir, f.publisher.pub, first!);
  try {
    for (const r of rest) await pullAndDeploy(sr, f.publisher.pub, r);
  } finally {
    sr.close();
  }
  const sysroot = join(dir, 'sysroot');
  const bootloader = await writeBootloader(dir, sysroot, options.bootloader ?? 'uboot');
  const d: Device = {
    dir,
    root,
    sysroot,
    stateDir: join(dir, 'state'),
    cmdline: join(dir, 'proc-cmdline'),
    rebootRequests: join(dir, 'reboot-requests'),
    bootloader,
    backend: bootloaderBackendFor(bootloader),
    running,
  };
  await writeConfig(d, f, options);
  await writeChecks(root, options.checks ?? {});
  await writeStandInReboot(d);
  // The device has booted what it runs (nothing is armed, so nothing counts).
  await standInBoot(d);
  return d;
}

/** What the agent's download and deploy leave: the commit in the repository under the ref, deployed as the default. */
async function pullAndDeploy(sr: Sysroot, pub: string, r: Release): Promise<void> {
  const repo = await Repo.open(join(sr.path, 'ostree/repo'));
  try {
    await pull(repo, join(pub, 'repo'), { refs: [r.commit] });
    repo.setRef(REF, r.commit);
  } finally {
    repo.close();
  }
  await sr.load();
  await sr.deploy(OS, r.commit, { refspec: REF, retain: true });
}

async function writeBootloader(dir: string, sysroot: string, kind: 'uboot' | 'grub'): Promise<BootloaderConfig> {
  const vars = bootStateToVars(initialBootState(BOOTLIMIT));
  if (kind === 'uboot') {
    const envPath = join(dir, 'boot/efi/ota.env');
    await mkdir(join(dir, 'boot/efi'), { recursive: true });
    await writeUbootEnvText(envPath, vars);
    return { kind: 'uboot', envPath };
  }
  const esp = join(dir, 'boot/efi/EFI/ota');
  await mkdir(esp, { recursive: true });
  const envPath = join(esp, 'grubenv');
  const configPath = join(esp, 'grub.cfg');
  await writeGrubEnv(envPath, new Map(vars));
  // What the image build writes: grub.cfg from the entries of the deployment the image holds.
  const entries = await readOstreeBlsEntries(join(sysroot, 'boot'));
  await writeFile(configPath, renderGrubConfig(entries, { env: GRUB_ENV_LOCATION, boot: GRUB_BOOT_LOCATION }));
  return { kind: 'grub', envPath, configPath, envLocation: GRUB_ENV_LOCATION, bootLocation: GRUB_BOOT_LOCATION };
}

/**
 * The image's layer names what every device of this image shares; the device's layer what this one
 * is. JSON is YAML, so each layer is written as JSON text.
 */
async function writeConfig(d: Device, f: Fleet, options: DeviceOptions): Promise<void> {
  const trustedKeys = join(d.root, 'etc/ota/release.pub.jwks');
  await mkdir(join(d.root, 'usr/lib/ota'), { recursive: true });
  await mkdir(join(d.root, 'etc/ota'), { recursive: true });
  await copyFile(join(f.publisher.keyDir, 'release.pub.jwks'), trustedKeys);
  const image = {
    remote: f.server.url,
    board: options.board ?? BOARD,
    arch: 'amd64',
    trustedKeys,
    sysroot: d.sysroot,
    bootloader: d.bootloader,
    kernelCommandLine: d.cmdline,
    rebootCommand: [join(d.dir, 'stand-in-reboot')],
    // The scenarios start every update themselves: `daemon --once` then only resumes.
    pollIntervalSeconds: 0,
    health: {
      checkTimeoutSeconds: 30,
      deadlineSeconds: 60,
      minFreeDiskBytes: 1024 * 1024,
      minAvailableMemoryBytes: 0,
      scriptRoots: [join(d.root, 'etc/ota/health')],
    },
  };
  const etc = { deviceId: 'gw-0001', group: GROUP, stateDir: d.stateDir, ...options.etc };
  await writeFile(join(d.root, 'usr/lib/ota/agent.yaml'), `# the image's layer (test harness)\n${JSON.stringify(image, null, 2)}\n`);
  await writeFile(join(d.root, 'etc/ota/agent.yaml'), `# the device's layer (test harness)\n${JSON.stringify(etc, null, 2)}\n`);
}

async function writeChecks(root: string, checks: NonNullable<DeviceOptions['checks']>): Promise<void> {
  for (const level of ['required', 'wanted'] as const) {
    const folder = join(root, 'etc/ota/health', `${level}.d`);
    await mkdir(folder, { recursive: true });
    for (const [name, body] of Object.entries(checks[level] ?? {})) {
      await writeFile(join(folder, name), body);
      await chmod(join(folder, name), 0o755);
    }
  }
}

/** The stand-in reboot (at the process boundary): records that a reboot was asked for, and reboots nothing. */
async function writeStandInReboot(d: Device): Promise<void> {
  const script = join(d.dir, 'stand-in-reboot');
  await writeFile(script, `#!/bin/sh\n# stand-in reboot for tests: records the request instead of rebooting\necho reboot >> '${d.rebootRequests}'\n`);
  await chmod(script, 0o755);
}

/** Removes a test's temp dir with every device in it (deployment roots are immutable: removeTree clears the flag). */
export async function removeDevices(tmp: string): Promise<void> {
  for (const name of await readdir(tmp).catch(() => [] as string[])) await removeTree(join(tmp, name));
  await removeTree(tmp);
}
