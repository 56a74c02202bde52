import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { OtaError, withContext } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { silent, type EventSink } from '../../common/events.js';
import { initialBootState } from '../../bootloader/state.js';
import { bootStateToVars } from '../../bootloader/state-vars.js';
import { renderUbootBootScript } from '../../bootloader/uboot/boot-script.js';
import { backupEnvPath } from '../../bootloader/uboot/env-copies.js';
import { writeUbootEnvText } from '../../bootloader/uboot/env-text.js';
import { compileUbootBootScript } from '../../bootloader/uboot/mkimage.js';
import { addRemote, pull, Repo, Sysroot } from '../../node-ostree/index.js';
import { loadBoard } from '../board/load.js';
import { findCommit } from '../compose/find-commit.js';
import { writeBmap } from './bmap.js';
import { BOOT_MOUNT, planBoardLayer, vfatUuid, writeBoardLayer } from './board-layer.js';
import { boardFileSource, checkDeviceTrees } from './board-files.js';
import { grubEfiBootFiles } from './grub-efi.js';
import { planDisk, SECTOR, type DiskPlan, type PlannedPartition } from './disk-plan.js';
import { writeProvision, type ProvisionPlan, type ProvisionSummary } from './provision.js';

/**
 * `ota image`: a board's initial disk image from a built commit, without root-only tricks such
 * as loop mounts: a sparse file partitioned with sfdisk; the root partition an ext4 made by
 * `mke2fs -d` from an OSTree sysroot (init-fs, os-init, the commit pulled in and deployed with the
 * board's kernel arguments and root=UUID, the update remote set); the boot partition a vfat made
 * with `mkfs.vfat --offset` and filled with mtools (the boot script, the initial boot-counting
 * state, the board's bootloader and firmware files); then a block map for `ota flash`.
 *
 * @example
 * const r = await makeImage({ board: 'qemu-arm64', repoPath: 'repo', ref: 'gateway/arm64/qemu-arm64', output: 'disk.img' });
 */
export interface ImageOptions {
  board: string;
  boardsDir?: string;
  repoPath: string;
  ref: string;
  output: string;
  /** Total size in bytes (default: the partitions, and a root with room for an update). */
  sizeBytes?: number;
  /** Where devices pull updates from; recorded as the remote `ota` and the deployment's origin. */
  remoteUrl?: string;
  /** OSTree's name for the OS (default: the commit's image name). */
  osname?: string;
  /**
   * More refs (or checksums) of the same repository deployed after `ref`, each becoming OSTree's
   * default in turn, as updates would: with one, it is entry 0 and `ref` entry 1 (the rollback).
   * The boot state stays the initial one (nothing pending); arming it is the caller's choice.
   */
  alsoDeploy?: string[];
  /** The agent's configuration and files, checked already (`planProvision`), written into every deployment's /etc. */
  provision?: ProvisionPlan;
  onEvent?: EventSink;
}

export interface ImageResult {
  output: string;
  bmap: string;
  plan: DiskPlan;
  rootUuid: string;
  /** The default deployment (OSTree's entry 0): the last of `ref` and `alsoDeploy`. */
  deployment: string;
  /** Every deployment made, in order (`ref` first), relative to the root file system. */
  deployments: string[];
  kargs: string[];
  mappedBytes: number;
  /** What was provisioned (no secret's content); null when nothing was. */
  provisioned: ProvisionSummary | null;
  /** The partition mounted at /boot/efi for the agent (board-layer.ts), and its vfat UUID. */
  bootMount: { partition: string; uuid: string };
}

export async function makeImage(options: ImageOptions): Promise<ImageResult> {
  const emit = options.onEvent ?? silent;
  const { board, dir: boardDir } = await loadBoard(options.board, options.boardsDir);
  const repo = await Repo.open(options.repoPath);
  let commit;
  let extra;
  try {
    commit = findCommit(repo, options.ref);
    extra = (options.alsoDeploy ?? []).map((ref) => ({ ref, commit: findCommit(repo, ref) }));
  } finally {
    repo.close();
  }
  for (const c of [{ ref: options.ref, commit }, ...extra]) {
    const arch = c.commit.metadata.get('ota.arch')?.value;
    if (arch !== undefined && arch !== board.arch) throw new OtaError('ERR_OTA_USAGE', `${c.ref} is an ${String(arch)} image, and ${board.name} is an ${board.arch} board`, { hint: 'build the image for this board (board: in its manifest)' });
    if (c.commit.metadata.get('ostree.linux') === undefined) throw new OtaError('ERR_OTA_USAGE', `${c.ref} has no kernel, so no board can boot it`, { hint: `set \`board: ${board.name}\` in the image's manifest and build it again` });
  }
  const meta = commit.metadata;
  const treeBytes = Number(meta.get('ota.size')?.value ?? 0);
  const plan = planDisk(board, { totalBytes: options.sizeBytes, treeBytes });
  const osname = options.osname ?? String(meta.get('ota.image')?.value ?? 'debian');

  const say = (message: string) => emit({ phase: 'image', image: options.ref, board: board.name, output: options.output, message });
  const work = await mkdtemp(join(tmpdir(), 'ota-image-'));
  const partial = `${options.output}.partial`;
  try {
    // 1. the sysroot, in a directory: deploy as the device will see it
    say(`deploying ${commit.checksum.slice(0, 12)} into a sysroot for ${board.name}`);
    const rootUuid = randomUUID();
    const kargs = [`root=UUID=${rootUuid}`, 'rw', ...board.kernel.args, `console=${board.kernel.console}`];
    const volumeId = randomBytes(4).toString('hex');
    const boardLayer = planBoardLayer(board, { rootUuid, volumeId, osname });
    const sysrootDir = join(work, 'sysroot');
    const deployments = await deploy(sysrootDir, options, board.bootloader.type === 'uboot' ? 'uboot' : 'none', osname, [{ ref: options.ref, checksum: commit.checksum }, ...extra.map((e) => ({ ref: e.ref, checksum: e.commit.checksum }))], kargs);
    const deployment = deployments[deployments.length - 1]!;
    const deployed = join(sysrootDir, deployment);
    checkDeviceTrees(board, deployed);
    // The agent's bootloader, mounted and configured in every deployment (board-layer.ts); the
    // mount point on OSTree's /boot, which the deployments see at /boot.
    await mkdir(join(sysrootDir, BOOT_MOUNT), { recursive: true, mode: 0o755 });
    for (const d of deployments) await writeBoardLayer(join(sysrootDir, d), boardLayer);
    // Every deployment: a fallback to an older one must find the device's settings too.
    if (options.provision) {
      say(`provisioning ${options.provision.files.length} files in /etc`);
      for (const d of deployments) await writeProvision(join(sysrootDir, d), options.provision);
    }

    // 2. the disk: a sparse file, its partition table, each file system written at its offset
    say(`partitioning ${plan.table} ${Math.round(plan.totalBytes / 1024 / 1024)} MiB`);
    await mkdir(dirname(options.output), { recursive: true });
    const fh = await open(partial, 'w');
    await fh.truncate(plan.totalBytes);
    await fh.close();
    await run('partition the image', ['sfdisk', '--quiet', '--no-reread', '--no-tell-kernel', partial], { input: plan.sfdiskScript });
    for (const p of plan.partitions) {
      if (p.fs === 'ext4' && p.role === 'root') await makeExt4(partial, p, sysrootDir, rootUuid);
      else if (p.fs === 'ext4') await makeExt4(partial, p, undefined, randomUUID());
      // FAT16 below 512 MiB (mkfs.vfat's own guess misreads the size of a partition in a file), else FAT32
      else await run(`make the ${p.label} file system`, ['mkfs.vfat', '-F', p.sizeBytes < 512 * 1024 * 1024 ? '16' : '32', `--offset=${p.offsetBytes / SECTOR}`, '-n', p.label.toUpperCase(), ...(p.label === boardLayer.partition ? ['-i', volumeId] : []), partial, String(p.sizeBytes / 1024)]);
    }

    // 3. what the boot partitions hold
    const files = board.bootloader.type === 'grub-efi'
      ? await grubEfiBootFiles({ board, boardDir, deployed, bootDir: join(sysrootDir, 'boot'), rootUuid, staging: join(work, 'boot-files') })
      : await bootFiles(board, boardDir, deployed, join(work, 'boot-files'));
    for (const [label, list] of files) {
      const p = plan.partitions.find((x) => x.label === label)!;
      for (const f of list) {
        say(`${label}: ${f.to}`);
        const parent = dirname(f.to);
        // each ancestor too (EFI, then EFI/BOOT); -D s skips those that exist (and exits 1)
        if (parent !== '.') await run('make a directory on the boot partition', ['mmd', '-D', 's', '-i', `${partial}@@${p.offsetBytes}`, ...parent.split('/').map((_, i, a) => `::/${a.slice(0, i + 1).join('/')}`)], { okCodes: [0, 1], env: MTOOLS_ENV });
        await run(`copy ${f.to} to the ${label} partition`, ['mcopy', '-o', '-i', `${partial}@@${p.offsetBytes}`, f.from, `::/${f.to}`], { env: MTOOLS_ENV });
      }
    }
    for (const r of board.bootloader.type === 'uboot' ? board.bootloader.raw : []) await writeAt(partial, await readFile(boardFileSource(board, boardDir, deployed, r.from)), r.offset);

    await rename(partial, options.output);
    say('block map');
    const bmap = await writeBmap(options.output, `${options.output}.bmap`, { onEvent: emit });
    const mappedBytes = bmap.ranges.reduce((n, r) => n + (r.last - r.first + 1) * bmap.blockSize, 0);
    return { output: options.output, bmap: `${options.output}.bmap`, plan, rootUuid, deployment, deployments, kargs, mappedBytes, provisioned: options.provision?.summary ?? null, bootMount: { partition: boardLayer.partition, uuid: vfatUuid(volumeId) } };
  } catch (e) {
    await rm(partial, { force: true });
    throw withContext(e, `making a ${board.name} image of ${options.ref}`);
  } finally {
    await removeSysroot(work);
  }
}

/** mtools refuses file systems smaller than the file holding them without this. */
const MTOOLS_ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

/** Deploys each commit in turn (the last one is the default); returns their paths in the sysroot. */
async function deploy(sysrootDir: string, options: ImageOptions, bootloader: 'uboot' | 'none', osname: string, commits: { ref: string; checksum: string }[], kargs: string[]): Promise<string[]> {
  const sr = await Sysroot.open(sysrootDir);
  try {
    await sr.initFs();
    await sr.osInit(osname);
    const repoDir = join(sysrootDir, 'ostree/repo');
    // OSTree's U-Boot backend writes /boot/loader/uEnv.txt on each deploy, where one exists.
    // GRUB boards: none, OSTree writes only its BLS entries and ota renders grub.cfg (grub-efi.ts).
    const config = await readFile(join(repoDir, 'config'), 'utf8');
    if (!/^\[sysroot\]/m.test(config)) await writeFile(join(repoDir, 'config'), `${config.trimEnd()}\n\n[sysroot]\nbootloader=${bootloader}\n`);
    if (bootloader === 'uboot') {
      await mkdir(join(sysrootDir, 'boot/loader.0'), { recursive: true });
      if (!existsSync(join(sysrootDir, 'boot/loader'))) await symlink('loader.0', join(sysrootDir, 'boot/loader'));
      await writeFile(join(sysrootDir, 'boot/loader/uEnv.txt'), '');
    }
    // A commit given by checksum gets no ref and its checksum as origin, as `ostree admin deploy` does.
    const isChecksum = (ref: string) => /^[0-9a-f]{64}$/.test(ref);
    const refspec = (ref: string) => (options.remoteUrl && !isChecksum(ref) ? `ota:${ref}` : ref);
    const repo = await Repo.open(repoDir);
    try {
      await pull(repo, options.repoPath, { refs: commits.map((c) => c.checksum) });
      if (options.remoteUrl) await addRemote(repo, 'ota', options.remoteUrl);
      for (const c of commits) if (!isChecksum(c.ref)) repo.setRef(refspec(c.ref), c.checksum);
    } finally {
      repo.close();
    }
    await sr.load();
    const paths: string[] = [];
    for (const c of commits) paths.push((await sr.deploy(osname, c.checksum, { kargs, refspec: refspec(c.ref) })).path);
    return paths;
  } finally {
    sr.close();
  }
}

async function makeExt4(image: string, p: PlannedPartition, from: string | undefined, uuid: string): Promise<void> {
  await run(`make the ${p.label} file system`, ['mke2fs', '-q', '-F', '-t', 'ext4', '-L', p.label, '-U', uuid, '-E', `offset=${p.offsetBytes}`, ...(from ? ['-d', from] : []), image, `${p.sizeBytes / 1024}k`]);
}

interface BootFile {
  from: string;
  to: string;
}

/** Files per partition label: the boot script and initial state, then the bootloader's and firmware's own files. */
async function bootFiles(board: Awaited<ReturnType<typeof loadBoard>>['board'], boardDir: string, deployed: string, staging: string): Promise<Map<string, BootFile[]>> {
  if (board.bootloader.type !== 'uboot') throw new Error('bootFiles: U-Boot only, this is a bug');
  const bl = board.bootloader;
  const env = bl.env;
  if (env.kind !== 'text-file') throw new Error('bootFiles: checkBoard refuses binary U-Boot envs, this is a bug');
  await mkdir(staging, { recursive: true });
  const out = new Map<string, BootFile[]>();
  const add = (label: string, f: BootFile) => out.set(label, [...(out.get(label) ?? []), f]);
  if (board.arch === 'arm64' || board.arch === 'armhf') {
    const script = renderUbootBootScript({ arch: board.arch, device: bl.device, envFile: env.path, defaultBootlimit: bl.bootlimit });
    await writeFile(join(staging, 'boot.scr'), await compileUbootBootScript(script, board.arch));
    add(env.partition, { from: join(staging, 'boot.scr'), to: 'boot.scr' });
  }
  // the state and its backup copy (bootloader/uboot/env-copies.ts), both whole
  await writeUbootEnvText(join(staging, 'ota.env'), bootStateToVars(initialBootState(bl.bootlimit)));
  add(env.partition, { from: join(staging, 'ota.env'), to: env.path });
  add(env.partition, { from: join(staging, 'ota.env'), to: backupEnvPath(env.path) });
  for (const f of [...bl.install, ...board.firmware.install]) {
    add(f.partition, { from: boardFileSource(board, boardDir, deployed, f.from), to: f.to });
  }
  return out;
}

async function writeAt(image: string, bytes: Buffer, offset: number): Promise<void> {
  const fh = await open(image, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, offset);
  } finally {
    await fh.close();
  }
}

/** Deployment roots are immutable (chattr +i); lift that before removing the scratch sysroot. */
async function removeSysroot(work: string): Promise<void> {
  const deployRoot = join(work, 'sysroot/ostree/deploy');
  if (existsSync(deployRoot)) await run('chattr -i', ['sh', '-c', 'for d in "$1"/*/deploy/*; do [ -d "$d" ] && chattr -i "$d"; done; true', 'sh', deployRoot], { okCodes: [0, 1] });
  await rm(work, { recursive: true, force: true });
}
