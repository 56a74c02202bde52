import { existsSync } from 'node:fs';
import { chmod, lchown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { silent, type EventSink } from '../../common/events.js';
import { parseStanzas } from '../apt/control.js';
import { checkout, commitHardlinkedCheckout, decodeDirMeta, decodeDirTree, DevinoCache, readCommit, type Repo } from '../../node-ostree/index.js';
import { emulationFor, type Emulation } from './emulation.js';
import { mergeUpper } from './overlay-merge.js';
import { applyDiversions, parseDiversions } from './diversions.js';
import { configureScript, maintscriptHelperShim, MARK, namespaceScript, parseFailure, PAYLOAD_IN_CHROOT, preinstScript, type Preinst } from './stage2-scripts.js';
import { processRuns } from '../../common/pid.js';

/**
 * Stage 2 of a build: check the stage-1 tree out as hardlinks into the repository, run the
 * preinsts and `dpkg --configure -a` in a chroot inside a namespace with no network and service
 * starts denied (through qemu-user for a foreign architecture), then commit the result back,
 * where every file nobody touched is recognised by device and inode and not read again.
 *
 * @example
 * const r = await runStage2(repo, stage1.checksum, { arch: 'arm64', timestamp, finish: makeDeployable });
 */
export interface Stage2Options<T = undefined> {
  /** The image's ref, which the events name (default `ref`, else the stage-1 commit). */
  image?: string;
  arch: string;
  /** The commit's time. */
  timestamp: number;
  /** SOURCE_DATE_EPOCH for the scripts (dates they write into files); default `timestamp`. */
  sourceDateEpoch?: number;
  ref?: string;
  subject?: string;
  metadata?: Buffer;
  /** Package name -> deb SHA256, to place files that preinsts divert. */
  packages?: Map<string, string>;
  onEvent?: EventSink;
  /** Runs on the unpacked build root (natively) before anything runs in it: configuration the scripts should see. */
  prepare?: (root: string) => Promise<void>;
  /** More environment for the scripts (INITRD=No while a board's kernel is configured). */
  env?: Record<string, string>;
  /** Shell commands run in the chroot after `dpkg --configure -a` (building the initramfs once). */
  afterConfigure?: string[];
  /**
   * Runs on the configured build root (natively, outside the chroot) before the commit: the
   * commit's metadata (instead of `metadata`), and a value handed back as the result's `finished`.
   */
  finish?: (root: string) => Promise<{ metadata?: Buffer; value: T }>;
  /** Kills the namespace (and all in it) and stops; the work directory is removed all the same. */
  signal?: AbortSignal;
}

export interface Stage2Result<T = undefined> {
  checksum: string;
  configured: number;
  /** Files the commit had to read and hash (new or changed by the scripts); the rest came from the devino cache. */
  filesWritten: number;
  devinoHits: number;
  seconds: { checkout: number; configure: number; commit: number };
  /** What `finish` handed back. */
  finished?: T;
}

/** Written by scripts at build time but meaningless (or varying) in an image: removed before the commit. */
const SCRUB = [
  'var/log/dpkg.log',
  'var/log/alternatives.log',
  'var/log/bootstrap.log',
  'var/cache/debconf/config.dat-old',
  'var/cache/debconf/templates.dat-old',
  'var/cache/debconf/passwords.dat-old',
  'var/cache/ldconfig/aux-cache',
  'var/lib/dpkg/status-old',
  'var/lib/dpkg/diversions-old',
  'var/lib/dpkg/statoverride-old',
  'var/lib/dbus/machine-id',
  'var/lib/systemd/random-seed',
];

/** The work directory of one run: the build root, the overlay's mount point, and the payload the chroot sees. */
interface Work {
  dir: string;
  root: string;
  mnt: string;
  payload: string;
}

export async function runStage2<T = undefined>(repo: Repo, stage1: string, options: Stage2Options<T>): Promise<Stage2Result<T>> {
  const emit = options.onEvent ?? silent;
  const image = options.image ?? options.ref ?? stage1;
  if (process.getuid?.() !== 0) {
    throw new OtaError('ERR_OTA_BUILD', 'configuring an image (stage 2) needs root: it mounts an overlay and /proc in a private namespace and chroots into the tree', {
      hint: 'run ota build with sudo',
    });
  }
  const emulation = await emulationFor(options.arch);
  const work = await makeWork(repo);
  const devino = new DevinoCache();
  const t0 = Date.now();
  try {
    emit({ phase: 'configure', image, message: 'checking out the unpacked tree (hardlinks)' });
    const preserve = repo.mode === 'bare';
    await checkout(repo, stage1, work.root, { userMode: !preserve, hardlink: true, devino });
    if (!preserve) await restoreDirectoryMetadata(repo, stage1, work.root);
    const t1 = Date.now();
    options.signal?.throwIfAborted();
    const configured = await configure(repo, work, emulation, { ...options, image });
    const finished = await options.finish?.(work.root);
    const t2 = Date.now();
    options.signal?.throwIfAborted();

    emit({ phase: 'commit', image, message: 'committing the configured tree' });
    const metadata = finished?.metadata ?? options.metadata;
    const c = await commitHardlinkedCheckout(repo, work.root, devino, { ref: options.ref, timestamp: options.timestamp, subject: options.subject, metadata });
    const t3 = Date.now();
    return {
      checksum: c.checksum,
      configured,
      filesWritten: c.stats.contentWritten,
      devinoHits: c.stats.devinoCacheHits,
      seconds: { checkout: (t1 - t0) / 1000, configure: (t2 - t1) / 1000, commit: (t3 - t2) / 1000 },
      finished: finished?.value,
    };
  } finally {
    devino.free();
    await rm(work.dir, { recursive: true, force: true });
  }
}

/**
 * On the repository's file system, so that the checkout can hardlink its objects. The name
 * carries our pid: a build that was killed leaves its directory, and the next one removes it.
 */
async function makeWork(repo: Repo): Promise<Work> {
  await removeAbandoned(join(repo.path, 'tmp'));
  const dir = await mkdtemp(join(repo.path, 'tmp', `ota-stage2-${process.pid}-`));
  const work = { dir, root: join(dir, 'root'), mnt: join(dir, 'mnt'), payload: join(dir, 'payload') };
  for (const d of [work.mnt, join(work.payload, 'bin')]) await mkdir(d, { recursive: true });
  return work;
}

/** The preinsts, then `dpkg --configure -a`, each in the chroot; returns how many packages the tree holds, all installed. */
async function configure<T>(repo: Repo, work: Work, emulation: Emulation, options: Stage2Options<T>): Promise<number> {
  const emit = options.onEvent ?? silent;
  const { root } = work;
  await options.prepare?.(root);
  const status = parseStanzas(await readFile(join(root, 'var/lib/dpkg/status'), 'utf8'));
  const preinsts = await findPreinsts(root, status);
  const dpkgVersion = status.find((s) => s.get('Package') === 'dpkg')?.get('Version') ?? '';
  if (!dpkgVersion) throw new OtaError('ERR_OTA_BUILD', 'the image has no dpkg package, so its packages cannot be configured', { hint: 'add dpkg to the manifest (variant minbase includes it)' });
  await writeFile(join(work.payload, 'preinst.sh'), preinstScript(preinsts, dpkgVersion));
  await writeFile(join(work.payload, 'configure.sh'), configureScript(options.afterConfigure));
  await writeFile(join(work.payload, 'bin/dpkg-maintscript-helper'), maintscriptHelperShim(), { mode: 0o755 });
  const bindAt = emulation.native ? '' : (emulation.bindAt ?? '');
  const createdForBind = bindAt ? firstMissing(root, bindAt) : undefined;
  const chroot: Chroot = { work, env: scriptEnv(options), interpreter: emulation.native ? '' : emulation.interpreter, bindAt, signal: options.signal };
  emit({ phase: 'configure', image: options.image!, message: `${preinsts.length} preinst scripts${emulation.native ? '' : ` (through ${emulation.interpreter})`}` });
  await inChroot(chroot, 'preinst.sh');
  const diversions = parseDiversions(await readFile(join(root, 'var/lib/dpkg/diversions'), 'utf8').catch(() => ''));
  await applyDiversions(repo, root, diversions, options.packages ?? new Map());
  emit({ phase: 'configure', image: options.image!, message: `dpkg --configure -a: ${status.filter((s) => / unpacked$/.test(s.get('Status') ?? '')).length} packages` });
  await inChroot(chroot, 'configure.sh');
  if (createdForBind) await rm(createdForBind, { recursive: true, force: true });
  else if (bindAt) await rm(join(root, bindAt), { force: true });
  const after = parseStanzas(await readFile(join(root, 'var/lib/dpkg/status'), 'utf8'));
  const unfinished = after.filter((s) => !/ installed$/.test(s.get('Status') ?? '')).map((s) => `${s.get('Package')}: ${s.get('Status')}`);
  if (unfinished.length > 0) throw new OtaError('ERR_OTA_SCRIPT', `dpkg --configure -a left ${unfinished.length} packages not installed`, { details: unfinished.slice(0, 20) });
  for (const rel of SCRUB) await rm(join(root, rel), { force: true });
  // systemd's first boot fills it; empty (not absent) so that /etc stays read-only friendly.
  if (existsSync(join(root, 'etc/machine-id'))) await writeFile(join(root, 'etc/machine-id'), '');
  return after.length;
}

function scriptEnv<T>(options: Stage2Options<T>): Record<string, string> {
  return {
    PATH: `${PAYLOAD_IN_CHROOT}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: '/root',
    LC_ALL: 'C.UTF-8',
    DEBIAN_FRONTEND: 'noninteractive',
    DEBCONF_NONINTERACTIVE_SEEN: 'true',
    SOURCE_DATE_EPOCH: String(options.sourceDateEpoch ?? options.timestamp),
    ...options.env,
  };
}

interface Chroot {
  work: Work;
  env: Record<string, string>;
  /** qemu-user's binary for a foreign architecture, '' for a native one. */
  interpreter: string;
  /** Where in the tree the interpreter is bound, '' for none. */
  bindAt: string;
  signal?: AbortSignal;
}

/**
 * Runs one payload script in the namespace. A fresh overlay per script: the script's changes
 * are in its upper directory afterwards (with rofiles-fuse, written in place instead).
 */
async function inChroot(c: Chroot, script: string): Promise<void> {
  const { dir, root, mnt, payload } = c.work;
  const upper = join(dir, `upper-${script}`);
  const ovwork = join(dir, `ovwork-${script}`);
  for (const d of [upper, ovwork]) await mkdir(d);
  const argv = ['setpriv', '--pdeathsig', 'KILL', 'unshare', '--mount', '--net', '--pid', '--fork', '--kill-child', 'sh', '-c', namespaceScript(c.env), 'sh', root, mnt, payload, c.interpreter, c.bindAt, upper, ovwork, script];
  // unshare --fork ignores SIGINT and SIGTERM while it waits; SIGKILL ends it, and --kill-child
  // then ends the namespace's first process, which takes every other one in it along.
  const out = await run('configure the image', argv, { okCodes: [0, 97, 98, 99], signal: c.signal, killSignal: 'SIGKILL' }).catch((e: unknown) => {
    throw c.signal?.aborted ? e : failureFrom(e);
  });
  if (out.code !== 0) throw failureFrom(undefined, `${out.stdout}\n${out.stderr}`);
  await mergeUpper(upper, root);
}

function failureFrom(e: unknown, output?: string): OtaError {
  const text = output ?? (e instanceof OtaError ? (e.details ?? []).join('\n') : String(e));
  const f = parseFailure(text);
  const lines = text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith(MARK))
    .slice(-40);
  if (f?.command) return new OtaError('ERR_OTA_SCRIPT', `\`${f.command}\` failed in the image after configuring it`, { details: lines });
  if (f) {
    return new OtaError('ERR_OTA_SCRIPT', `the ${f.script} script of ${f.package} failed${f.status !== undefined ? ` (exit status ${f.status})` : ''}`, {
      details: lines,
      hint: `the output above is the script's; fix or exclude ${f.package}, or pin another version in the manifest`,
    });
  }
  if (e instanceof OtaError) return e;
  return new OtaError('ERR_OTA_SCRIPT', 'configuring the image failed', { details: lines });
}

/** The preinst scripts of the packages still to configure (`pkg` or `pkg:arch` names); installed ones (a base image's) already ran theirs. */
async function findPreinsts(root: string, status: Map<string, string>[]): Promise<Preinst[]> {
  const info = new Set(await readdir(join(root, 'var/lib/dpkg/info')));
  const out: Preinst[] = [];
  for (const s of status) {
    if (!/ unpacked$/.test(s.get('Status') ?? '')) continue;
    const name = s.get('Package')!;
    const arch = s.get('Architecture') ?? '';
    for (const base of [`${name}:${arch}`, name]) {
      if (info.has(`${base}.preinst`)) {
        out.push({ package: base, arch, path: `/var/lib/dpkg/info/${base}.preinst` });
        break;
      }
    }
  }
  return out;
}

/** The topmost directory on the way to `path` inside `root` that does not exist yet. */
function firstMissing(root: string, path: string): string | undefined {
  let cur = root;
  for (const part of path.split('/').filter(Boolean)) {
    cur = join(cur, part);
    if (!existsSync(cur)) return cur;
  }
  return undefined;
}

/**
 * A user-mode checkout (the only hardlinking one from a bare-user repository) makes directories
 * ours with plain modes; put back the owners and modes (setgid /var/mail, sticky /tmp) the commit
 * records, from the dirmeta objects alone. Files keep theirs through the devino cache.
 */
async function restoreDirectoryMetadata(repo: Repo, rev: string, root: string): Promise<void> {
  const commit = readCommit(repo, rev);
  const walk = async (dir: string, contents: string, meta: string): Promise<void> => {
    const m = decodeDirMeta(repo.loadVariant('dirMeta', meta));
    const tree = decodeDirTree(repo.loadVariant('dirTree', contents));
    for (const d of tree.dirs) await walk(join(dir, d.name), d.contents, d.meta);
    await lchown(dir, m.uid, m.gid);
    await chmod(dir, m.mode & 0o7777);
  };
  await walk(root, commit.rootContents, commit.rootMeta);
}

/** Removes the work directories of stage-2 runs whose process is gone (killed builds). */
async function removeAbandoned(tmp: string): Promise<void> {
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    const m = /^ota-stage2-(\d+)-/.exec(name);
    if (!m || processRuns(Number(m[1]))) continue;
    await rm(join(tmp, name), { recursive: true, force: true });
  }
}
