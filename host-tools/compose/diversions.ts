import { chmod, lchown, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { catFile, listTree, type Repo } from '../../node-ostree/index.js';
import { debDataRef } from './plan-debs.js';
import { mergedPath } from './stage1.js';

/**
 * Diversions added by preinst scripts, applied to the unpacked tree as dpkg's unpack would have.
 * Stage 1 lays every package's files at their own paths, before any preinst ran; when a preinst
 * then diverts a path (`dpkg-divert --add --rename --divert TO FROM`), the other package's copy
 * belongs at TO and the diverting package's own copy (if it ships one) at FROM. Both are written
 * from the per-deb commits, whatever the rename did to the tree.
 *
 * @example
 * const divs = parseDiversions(await readFile(join(root, 'var/lib/dpkg/diversions'), 'utf8'));
 * await applyDiversions(repo, root, divs, shaByPackage);
 */
export interface Diversion {
  from: string;
  to: string;
  /** The diverting package, or ':' for a local diversion. */
  package: string;
}

/** dpkg's diversions file: three lines per diversion (from, to, package). */
export function parseDiversions(text: string): Diversion[] {
  const lines = text.split('\n');
  const out: Diversion[] = [];
  for (let i = 0; i + 2 < lines.length; i += 3) out.push({ from: lines[i]!, to: lines[i + 1]!, package: lines[i + 2]! });
  return out;
}

/** Applies diversions; returns how many files it placed. `sha256Of` maps a package name (without :arch) to its deb. */
export async function applyDiversions(repo: Repo, root: string, diversions: Diversion[], sha256Of: Map<string, string>): Promise<number> {
  if (diversions.length === 0) return 0;
  const owners = await listOwners(join(root, 'var/lib/dpkg/info'));
  let placed = 0;
  for (const d of diversions) {
    const from = mergedPath(d.from);
    const to = mergedPath(d.to);
    const shipping = owners.get(from) ?? [];
    const other = shipping.filter((o) => o.pkg !== d.package).pop();
    const own = shipping.find((o) => o.pkg === d.package);
    if (other) placed += await place(repo, sha256Of, other, join(root, to));
    if (own) placed += await place(repo, sha256Of, own, join(root, from));
  }
  return placed;
}

interface Owner {
  pkg: string;
  /** The path as the package's data.tar has it. */
  path: string;
}

async function listOwners(info: string): Promise<Map<string, Owner[]>> {
  const out = new Map<string, Owner[]>();
  for (const f of (await readdir(info)).filter((n) => n.endsWith('.list')).sort()) {
    const pkg = f.slice(0, -'.list'.length).split(':')[0]!;
    for (const line of (await readFile(join(info, f), 'utf8')).split('\n')) {
      if (!line.startsWith('/')) continue;
      const key = mergedPath(line);
      const list = out.get(key) ?? [];
      list.push({ pkg, path: line });
      out.set(key, list);
    }
  }
  return out;
}

async function place(repo: Repo, sha256Of: Map<string, string>, o: Owner, dest: string): Promise<number> {
  const sha = sha256Of.get(o.pkg);
  if (!sha) throw new Error(`diversion: no deb known for package ${o.pkg}, this is a bug`);
  const ref = debDataRef(sha);
  const entry = listTree(repo, ref, { path: dirname(o.path), details: true }).find((e) => e.path === o.path);
  if (!entry || entry.type !== 'file') return 0;
  await rm(dest, { force: true, recursive: true });
  await mkdir(dirname(dest), { recursive: true });
  if (entry.symlinkTarget !== undefined) await symlink(entry.symlinkTarget, dest);
  else await writeFile(dest, await catFile(repo, ref, o.path));
  await lchown(dest, entry.uid ?? 0, entry.gid ?? 0);
  if (entry.symlinkTarget === undefined) await chmod(dest, (entry.mode ?? 0o644) & 0o7777);
  return 1;
}
