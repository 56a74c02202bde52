import { existsSync } from 'node:fs';
import { chmod, lchown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { silent, type EventSink } from '../../common/events.js';
import { parseStanzas } from '../apt/control.js';
import { checkout, commitHardlinkedCheckout, decodeDirMeta, decodeDirTree, DevinoCache, readCommit, type Repo } from '../../node-ostree/index.js';
import { emulationFor } from './emulation.js';
import { mergeUpper } from './overlay-merge.js';
import { applyDiversions, parseDiversions } from './diversions.js';
import { configureScript, maintscriptHelperShim, MARK, namespaceScript, parseFailure, PAYLOAD_IN_CHROOT, preinstScript, type Preinst } from './stage2-scripts.js';

/**
 * Stage 2 of a build: check the stage-1 tree out as hardlinks into the repository, run the
 * preinsts and `dpkg --configure -a` in a chroot inside a namespace with no network and service
 * starts denied (through qemu-user for a foreign architecture), then commit the result back,
 * where every file nobody touched is recognised by device and inode and not read again.
 *
 * @example
 * const r = await runStage2(repo, stage1.checksum, { arch: 'arm64', timestamp, finish: makeDeployable });
 */
export interface Stage2Options {
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
  /** Runs on the configured build root (natively, outside the chroot) before the commit; may return the commit's metadata. */
  finish?: (root: string) => Promise<Buffer | void>;
}

export interface Stage2Result {
  checksum: string;
  configured: number;
  /** Files the commit had to read and hash (new or changed by the scripts); the rest came from the devino cache. */
  filesWritten: number;
  devinoHits: number;
  seconds: { checkout: number; configure: number; commit: number };
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

export async function runStage2(repo: Repo, stage1: string, options: Stage2Options): Promise<Stage2Result> {
  const emit = options.onEvent ?? silent;
  const image = options.image ?? options.ref ?? stage1;
  if (process.getuid?.() !== 0) {
    throw new OtaError('ERR_OTA_BUILD', 'configuring an image (stage 2) needs root: it mounts an overlay and /proc in a private namespace and chroots into the tree', {
      hint: 'run ota build with sudo',
    });
  }
  const emulation = await emulationFor(options.arch);
  // On the repository's file system, so that the checkout can hardlink its objects. The name
  // carries our pid: a build that was killed leaves its directory, and the next one removes it.
  await removeAbandoned(join(repo.path, 'tmp'));
  const work = await mkdtemp(join(repo.path, 'tmp', `ota-stage2-${process.pid}-`));
  const root = join(work, 'root');
  const mnt = join(work, 'mnt');
  const payload = join(work, 'payload');
  for (const d of [mnt, join(payload, 'bin')]) await mkdir(d, { recursive: true });
  const devino = new DevinoCache();
  const t0 = Date.now();
  try {
    emit({ phase: 'configure', image, message: 'checking out the unpacked tree (hardlinks)' });
    const preserve = repo.mode === 'bare';
    await checkout(repo, stage1, root, { userMode: !preserve, hardlink: true, devino });
    if (!preserve) await restoreDirectoryMetadata(repo, stage1, root);
    const t1 = Date.now();

    await options.prepare?.(root);
    const status = parseStanzas(await readFile(join(root, 'var/lib/dpkg/status'), 'utf8'));
    const preinsts = await findPreinsts(root, status);
    const dpkgVersion = status.find((s) => s.get('Package') === 'dpkg')?.get('Version') ?? '';
    if (!dpkgVersion) throw new OtaError('ERR_OTA_BUILD', 'the image has no dpkg package, so its packages cannot be configured', { hint: 'add dpkg to the manifest (variant minbase includes it)' });
    await writeFile(join(payload, 'preinst.sh'), preinstScript(preinsts, dpkgVersion));
    await writeFile(join(payload, 'configure.sh'), configureScript(options.afterConfigure));
    await writeFile(join(payload, 'bin/dpkg-maintscript-helper'), maintscriptHelperShim(), { mode: 0o755 });
    const bindAt = emulation.native ? '' : (emulation.bindAt ?? '');
    const createdForBind = bindAt ? firstMissing(root, bindAt) : undefined;
    const env = {
      PATH: `${PAYLOAD_IN_CHROOT}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: '/root',
      LC_ALL: 'C.UTF-8',
      DEBIAN_FRONTEND: 'noninteractive',
      DEBCONF_NONINTERACTIVE_SEEN: 'true',
      SOURCE_DATE_EPOCH: String(options.sourceDateEpoch ?? options.timestamp),
      ...options.env,
    };
    let n = 0;
    const inChroot = async (script: string): Promise<void> => {
      // A fresh overlay per phase; the scripts' changes are in its upper directory afterwards
      // (with rofiles-fuse, written in place instead).
      const upper = join(work, `upper${++n}`);
      const ovwork = join(work, `ovwork${n}`);
      for (const d of [upper, ovwork]) await mkdir(d);
      const argv = ['setpriv', '--pdeathsig', 'KILL', 'unshare', '--mount', '--net', '--pid', '--fork', '--kill-child', 'sh', '-c', namespaceScript(env), 'sh', root, mnt, payload, emulation.native ? '' : emulation.interpreter, bindAt, upper, ovwork, script];
      const out = await run('configure the image', argv, { okCodes: [0, 97, 98, 99] }).catch((e: unknown) => {
        throw failureFrom(e);
      });
      if (out.code !== 0) throw failureFrom(undefined, `${out.stdout}\n${out.stderr}`);
      await mergeUpper(upper, root);
    };
    emit({ phase: 'configure', image, message: `${preinsts.length} preinst scripts${emulation.native ? '' : ` (through ${emulation.interpreter})`}` });
    await inChroot('preinst.sh');
    const diversions = parseDiversions(await readFile(join(root, 'var/lib/dpkg/diversions'), 'utf8').catch(() => ''));
    await applyDiversions(repo, root, diversions, options.packages ?? new Map());
    emit({ phase: 'configure', image, message: `dpkg --configure -a: ${status.filter((s) => / unpacked$/.test(s.get('Status') ?? '')).length} packages` });
    await inChroot('configure.sh');
    if (createdForBind) await rm(createdForBind, { recursive: true, force: true });
    else if (bindAt) await rm(join(root, bindAt), { force: true });
    const after = parseStanzas(await readFile(join(root, 'var/lib/dpkg/status'), 'utf8'));
    const unfinished = after.filter((s) => !/ installed$/.test(s.get('Status') ?? '')).map((s) => `${s.get('Package')}: ${s.get('Status')}`);
    if (unfinished.length > 0) throw new OtaError('ERR_OTA_SCRIPT', `dpkg --configure -a left ${unfinished.length} packages not installed`, { details: unfinished.slice(0, 20) });
    for (const rel of SCRUB) await rm(join(root, rel), { force: true });
    // systemd's first boot fills it; empty (not absent) so that /etc stays read-only friendly.
    if (existsSync(join(root, 'etc/machine-id'))) await writeFile(join(root, 'etc/machine-id'), '');
    const metadata = (await options.finish?.(root)) ?? options.metadata;
    const t2 = Date.now();

    emit({ phase: 'commit', image, message: 'committing the configured tree' });
    const c = await commitHardlinkedCheckout(repo, root, devino, { ref: options.ref, timestamp: options.timestamp, subject: options.subject, metadata });
    const t3 = Date.now();
    return {
      checksum: c.checksum,
      configured: after.length,
      filesWritten: c.stats.contentWritten,
      devinoHits: c.stats.devinoCacheHits,
      seconds: { checkout: (t1 - t0) / 1000, configure: (t2 - t1) / 1000, commit: (t3 - t2) / 1000 },
    };
  } finally {
    devino.free();
    await rm(work, { recursive: true, force: true });
  }
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
    if (!m || alive(Number(m[1]))) continue;
    await rm(join(tmp, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
