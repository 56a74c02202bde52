import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseRelations } from '../apt/relations.js';
import { catFile, commitDirectory, commitUnion, listTree, type Repo } from '../../node-ostree/index.js';
import { dpkgDatabase, type DbFile, type UnpackedPackage } from './dpkg-db.js';
import { debDataRef, type LockedDeb } from './plan-debs.js';
import { unpackedFromRepo } from './unpacked.js';

/**
 * Stage 1 of a build: the tree dpkg would leave after `dpkg --unpack` of every locked package,
 * without running anything: the union of the debs' data commits (merged /usr), conffiles as
 * `<path>.dpkg-new`, and the dpkg database of the unpacked state on top. Stage 2 then only runs
 * `dpkg --configure -a`. Files that several packages ship are reported with whether a Replaces
 * declares the overlap (dpkg refuses undeclared ones).
 *
 * @example
 * const { checksum, conflicts } = await buildStage1(repo, debs, { timestamp, ref: 'ota/stage1/gateway' });
 */
export interface Stage1Options {
  timestamp?: number;
  ref?: string;
  /** Merged /usr (default true, as Debian bookworm and later). */
  usrMerge?: boolean;
  /**
   * A configured tree to unpack on top of (a board's packages over the image's): its files are
   * the first layer, and its dpkg database (installed packages) is merged with the new ones'.
   */
  base?: string;
}

export interface FileConflict {
  path: string;
  /** Package names in layer order; the last one's file wins. */
  packages: string[];
  /** The same bytes in every package (harmless, e.g. Multi-Arch: same docs). */
  identical: boolean;
  /** A later package declares Replaces on the earlier ones. */
  declared: boolean;
}

export interface Stage1Result {
  checksum: string;
  conflicts: FileConflict[];
}

const USR_MERGED = new Set(['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']);

export async function buildStage1(repo: Repo, debs: LockedDeb[], options: Stage1Options = {}): Promise<Stage1Result> {
  const usrMerge = options.usrMerge ?? true;
  const byName = [...debs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const unpacked = new Map<LockedDeb, UnpackedPackage>();
  for (const d of byName) unpacked.set(d, await unpackedFromRepo(repo, d.sha256));
  // A package that Replaces another owns the files they share (dpkg's rule), so it is layered after it.
  const sorted = replacesOrder(byName, (d) => parseRelations(unpacked.get(d)!.control.get('Replaces')).flat().map((a) => a.name));
  const pkgs = sorted.map((d) => unpacked.get(d)!);
  const baseDb = options.base ? await readBaseDatabase(repo, options.base) : undefined;
  const db = await commitDatabase(repo, pkgs, options.timestamp ?? 0, baseDb);
  const offset = options.base ? 1 : 0;

  const renames = new Map<string, string>();
  for (const p of pkgs) {
    for (const line of (p.members.get('conffiles')?.toString('utf8') ?? '').split('\n')) {
      const path = line.trim();
      if (!path.startsWith('/')) continue;
      const final = usrMerge ? mergedPath(path) : path;
      renames.set(final, `${final}.dpkg-new`);
    }
  }
  const union = await commitUnion(repo, [...(options.base ? [options.base] : []), ...sorted.map((d) => debDataRef(d.sha256)), db], {
    usrMerge,
    renames,
    timestamp: options.timestamp ?? 0,
    ref: options.ref,
    subject: `stage 1: ${sorted.length} packages unpacked`,
  });
  const conflicts = union.conflicts
    .filter((c) => c.layers.every((i) => i < pkgs.length + offset))
    .map((c) => {
      const names = c.layers.map((i) => (i < offset ? 'the base image' : pkgs[i - offset]!.control.get('Package')!));
      const declared = c.layers.slice(1).every((i, k) => {
        const replaces = parseRelations(pkgs[i - offset]!.control.get('Replaces')).flat().map((a) => a.name);
        return names.slice(0, k + 1).every((n) => replaces.includes(n));
      });
      return { path: c.path, packages: names, identical: c.identical, declared };
    });
  return { checksum: union.checksum, conflicts };
}

/**
 * Orders packages so each comes after the packages it Replaces (Kahn's algorithm, taking the
 * first by name whenever several are free); a cycle (mutual Replaces) is broken by name order.
 */
export function replacesOrder(debs: LockedDeb[], replaces: (d: LockedDeb) => string[]): LockedDeb[] {
  const byName = new Map(debs.map((d) => [d.name, d]));
  const after = new Map<LockedDeb, Set<LockedDeb>>(debs.map((d) => [d, new Set(replaces(d).map((n) => byName.get(n)).filter((x): x is LockedDeb => x !== undefined && x !== d))]));
  const out: LockedDeb[] = [];
  const left = [...debs];
  while (left.length > 0) {
    const i = left.findIndex((d) => [...after.get(d)!].every((x) => out.includes(x)));
    out.push(...left.splice(i === -1 ? 0 : i, 1));
  }
  return out;
}

/** Where a path of a non-merged package lands in a merged-/usr tree. */
export function mergedPath(path: string): string {
  const top = path.split('/')[1] ?? '';
  return USR_MERGED.has(top) ? `/usr${path}` : path;
}

interface BaseDatabase {
  status: string;
  /** triggers/File and triggers/<name>, by name. */
  triggers: Map<string, string>;
}

async function readBaseDatabase(repo: Repo, base: string): Promise<BaseDatabase> {
  const status = (await catFile(repo, base, '/var/lib/dpkg/status')).toString('utf8');
  const triggers = new Map<string, string>();
  for (const e of listTree(repo, base, { path: '/var/lib/dpkg/triggers' })) {
    // Lock is dpkg's lock file, not data
    if (e.type === 'file' && !e.path.endsWith('/Lock')) triggers.set(e.path.slice('/var/lib/dpkg/triggers/'.length), (await catFile(repo, base, e.path)).toString('utf8'));
  }
  return { status, triggers };
}

/** The database files under var/lib/dpkg, committed as their own layer (root-owned). */
async function commitDatabase(repo: Repo, pkgs: UnpackedPackage[], timestamp: number, base?: BaseDatabase): Promise<string> {
  const files = dpkgDatabase(pkgs);
  if (base) mergeBase(files, base);
  const dir = await mkdtemp(join(tmpdir(), 'ota-dpkgdb-'));
  try {
    const base = join(dir, 'var/lib/dpkg');
    await mkdir(base, { recursive: true });
    for (const [rel, f] of files) {
      const p = join(base, rel);
      if (f.type === 'directory') {
        await mkdir(p, { recursive: true, mode: f.mode });
        continue;
      }
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, f.content);
      await chmod(p, f.mode);
    }
    // This layer comes last, so its directories' metadata wins: make them the usual 0755 (mkdtemp made the root 0700).
    for (const d of ['', 'var', 'var/lib', 'var/lib/dpkg', 'var/lib/dpkg/info', 'var/lib/dpkg/triggers']) await chmod(join(dir, d), 0o755);
    return (await commitDirectory(repo, dir, { owner: { uid: 0, gid: 0 }, timestamp })).checksum;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Merges the new packages' database files into a base's: status stanzas of both, sorted by
 * name as dpkg keeps them; trigger interests of both.
 */
function mergeBase(files: Map<string, DbFile>, base: BaseDatabase): void {
  // Stanzas are moved as dpkg wrote them (multi-line fields, spacing and all), never re-formatted.
  const blocks = (text: string) => text.split(/\n\n+/).map((b) => b.trim()).filter((b) => b !== '');
  const stanzas = [...blocks(base.status), ...blocks(files.get('status')!.content.toString('utf8'))];
  const key = (b: string) => `${/^Package: (.*)$/m.exec(b)?.[1]}:${/^Architecture: (.*)$/m.exec(b)?.[1]}`;
  stanzas.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  files.set('status', { content: Buffer.from(stanzas.map((b) => `${b}\n\n`).join('')), mode: 0o644 });
  for (const [name, text] of base.triggers) {
    const ours = files.get(`triggers/${name}`)?.content.toString('utf8') ?? '';
    files.set(`triggers/${name}`, { content: Buffer.from(text + ours), mode: 0o644 });
  }
}
