import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve as resolvePath, sep } from 'node:path';
import { OtaError, type OtaErrorCode } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { fsReason } from '../../common/fs-errors.js';
import { ControlSyntaxError, formatStanzas, parseStanzas, type Stanza } from '../apt/control.js';
import { PackagesIndex } from '../apt/packages-index.js';
import { LOCAL_ORIGIN_URI, packageStanzaProblem } from './lock-syntax.js';
import type { Lock } from './lockfile.js';
import type { Origin } from './universe.js';

/**
 * The manifest's local debs (docs/manifest.md, "Local debs"): each file is confined to the
 * manifest's folder, hashed, and its control fields read with dpkg-deb, so that it enters the
 * universe as one more index of one version, and the lock as one stanza like any other (its
 * Filename the path, its Origin-Uri `local`). The lock then holds the SHA256 the build checks.
 *
 * @example
 * const debs = await readLocalDebs('image.yaml', ['debs/ota-agent_1.0_arm64.deb'], 'arm64');
 * const universe = new Universe('arm64', [...indices, localIndex(debs)]);
 */
export interface LocalDeb {
  /** As the manifest wrote it, relative to the manifest's folder. */
  path: string;
  name: string;
  version: string;
  sha256: string;
  /** The stanza the lock will hold: the deb's own control fields, Filename, Size and SHA256. */
  stanza: Stanza;
}

/**
 * A local deb's origin: above any source's pin priority (at most 1000) and first in order, so
 * the file wins over an archive's package of the same name and version.
 */
export const LOCAL_ORIGIN: Origin = { uri: LOCAL_ORIGIN_URI, suite: LOCAL_ORIGIN_URI, component: '', priority: 1001, order: -1 };

/** The control fields a lock keeps (as an archive's Packages index carries them); Description and the rest are dropped. */
const KEPT = ['Package', 'Version', 'Architecture', 'Multi-Arch', 'Essential', 'Priority', 'Section', 'Source', 'Pre-Depends', 'Depends', 'Recommends', 'Provides', 'Conflicts', 'Breaks', 'Replaces'];

/**
 * Where `path` (relative to `dir`) is on disk once symlinks are followed; a path that leaves
 * `dir` that way, or is not a regular file, is refused with `code`.
 */
export async function confinedDebPath(dir: string, path: string, code: OtaErrorCode): Promise<string> {
  const shown = resolvePath(dir, path);
  let real: string;
  let root: string;
  try {
    root = await realpath(dir);
    real = await realpath(shown);
  } catch (e) {
    throw new OtaError(code, `local deb ${shown}: ${fsReason(e)}`, { cause: e, hint: 'build the .deb first, or fix its path in the manifest\'s debs (relative to the manifest)' });
  }
  const rel = relative(root, real);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new OtaError(code, `local deb ${shown} leads outside ${root} (to ${real})`, { hint: 'copy the .deb into the manifest\'s folder: a manifest reads no file outside it' });
  }
  if (!(await stat(real)).isFile()) throw new OtaError(code, `local deb ${shown} is not a regular file`, { hint: 'give the path of a .deb file' });
  return real;
}

/** Reads every local deb of a manifest (at `manifestPath`) for an image of `arch`; refuses a bad one with ERR_OTA_MANIFEST, naming it. */
export async function readLocalDebs(manifestPath: string, paths: string[], arch: string): Promise<LocalDeb[]> {
  const debs: LocalDeb[] = [];
  for (const path of paths) {
    const deb = await readLocalDeb(dirname(manifestPath), path, arch);
    const twin = debs.find((d) => d.name === deb.name);
    if (twin) throw new OtaError('ERR_OTA_MANIFEST', `${manifestPath}: debs ${twin.path} and ${path} are both package ${deb.name}`, { hint: 'list one .deb per package' });
    debs.push(deb);
  }
  return debs;
}

async function readLocalDeb(dir: string, path: string, arch: string): Promise<LocalDeb> {
  const file = await confinedDebPath(dir, path, 'ERR_OTA_MANIFEST');
  const [sha256, size] = await hashFile(file);
  const r = await run(`read the control fields of ${path}`, ['dpkg-deb', '--field', file], { okCodes: [0, 1, 2] });
  const where = `local deb ${path}`;
  if (r.code !== 0) throw new OtaError('ERR_OTA_MANIFEST', `${where} is not a .deb dpkg-deb reads: ${r.stderr.trim().slice(0, 300)}`, { hint: 'build it with dpkg-deb --build' });
  let control: Stanza | undefined;
  try {
    control = parseStanzas(r.stdout)[0];
  } catch (e) {
    if (!(e instanceof ControlSyntaxError)) throw e;
  }
  if (!control?.has('Package')) throw new OtaError('ERR_OTA_MANIFEST', `${where} has no control fields dpkg-deb can show`, { hint: 'build it with dpkg-deb --build' });
  const stanza: Stanza = new Map(KEPT.filter((f) => control.has(f)).map((f) => [f, control.get(f)!.replace(/\n\s*/g, ' ')]));
  for (const [f, v] of [['Filename', path], ['Size', String(size)], ['SHA256', sha256], ['Origin-Uri', LOCAL_ORIGIN_URI], ['Origin-Suite', LOCAL_ORIGIN_URI], ['Origin-Component', '-']] as const) stanza.set(f, v);
  const bad = packageStanzaProblem(stanza);
  if (bad) throw new OtaError('ERR_OTA_MANIFEST', `${where}: its ${bad.field} ${bad.reason}`, { hint: 'fix the control file and build the .deb again' });
  const a = stanza.get('Architecture')!;
  if (a !== arch && a !== 'all') throw new OtaError('ERR_OTA_MANIFEST', `${where} is for ${a}; the image is ${arch}`, { hint: `build the .deb for ${arch} (or all)` });
  return { path, name: stanza.get('Package')!, version: stanza.get('Version')!, sha256, stanza };
}

async function hashFile(file: string): Promise<[string, number]> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const c of createReadStream(file) as AsyncIterable<Buffer>) {
      size += c.length;
      hash.update(c);
    }
  } catch (e) {
    throw new OtaError('ERR_OTA_IO', `cannot read ${file}: ${fsReason(e)}`, { cause: e });
  }
  return [hash.digest('hex'), size];
}

/** The local debs as one more index of the universe, each package in the one version its file holds. */
export function localIndex(debs: LocalDeb[]): { index: PackagesIndex; origin: Origin } {
  const fields = (s: Stanza) => [...s].filter(([f]) => !f.startsWith('Origin-'));
  return { index: PackagesIndex.fromText(formatStanzas(debs.map((d) => fields(d.stanza)))), origin: LOCAL_ORIGIN };
}

/** The root specs the local debs add to a resolution: each package at its file's version. */
export function localRoots(debs: LocalDeb[]): string[] {
  return debs.map((d) => `${d.name}=${d.version}`);
}

/** The packages of a lock that came from its local debs (Origin-Uri `local`). */
export function lockedLocalNames(lock: Lock): string[] {
  return [...lock.packages.values()].filter((c) => c.origin.uri === LOCAL_ORIGIN_URI).map((c) => c.name);
}

/**
 * What differs between a lock's local debs and the files now (for `ota lock --check` and the
 * build): the list itself, and each file's SHA256. Reads the files, so it needs the lock's folder.
 */
export async function localDebProblems(lock: Lock, manifestPath: string, paths: string[]): Promise<string[]> {
  const locked = lock.header.localDebs ?? [];
  if (locked.join(' ') !== paths.join(' ')) return [`the manifest's debs are [${paths.join(', ')}], the lock's Local-Debs [${locked.join(', ')}]`];
  const problems: string[] = [];
  const byFile = new Map([...lock.packages.values()].filter((c) => c.origin.uri === LOCAL_ORIGIN_URI).map((c) => [c.filename!, c]));
  for (const path of paths) {
    try {
      const [sha256] = await hashFile(await confinedDebPath(dirname(manifestPath), path, 'ERR_OTA_LOCK_STALE'));
      const c = byFile.get(path);
      if (c && c.sha256 !== sha256) problems.push(`local deb ${path} has changed since the lock (SHA256 ${c.sha256!.slice(0, 12)}…, now ${sha256.slice(0, 12)}…)`);
    } catch (e) {
      if (!(e instanceof OtaError)) throw e;
      problems.push(e.message);
    }
  }
  return problems;
}
