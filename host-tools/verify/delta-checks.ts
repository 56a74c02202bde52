import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeVariant, type GVariantValue, type Repo } from '../../node-ostree/index.js';
import { deltaDir } from '../publish/delta.js';
import { checkDeltaParts, readSuperblock, sha256, type Superblock } from '../../bundle/index.js';

/**
 * Every static delta under repo/deltas/ (docs/releases.md, "Verifying"): its superblock decodes
 * and carries the commit it names, it sits in the directory its from/to say, both commits exist,
 * each part matches the superblock's size and SHA-256, each fallback object exists, and the
 * summary's delta table names its superblock's checksum.
 *
 * @example
 * const found = await checkDeltas(repo, summaryDeltas, problems);
 */
export interface FoundDelta {
  from: string | null;
  to: string;
  parts: number;
  /** SHA-256 of its superblock, as the summary and the delta indexes name it. */
  superblockSha256: string;
}

const FALLBACK_TYPE: Record<number, 'file' | 'dirTree' | 'dirMeta' | 'commit'> = { 1: 'file', 2: 'dirTree', 3: 'dirMeta', 4: 'commit' };

async function deltaDirs(repo: Repo): Promise<string[]> {
  const root = join(repo.path, 'deltas');
  const out: string[] = [];
  for (const a of await readdir(root).catch(() => [] as string[])) {
    for (const b of await readdir(join(root, a)).catch(() => [] as string[])) out.push(join('deltas', a, b));
  }
  return out.sort();
}

async function checkOne(repo: Repo, rel: string, summaryDeltas: Map<string, string>): Promise<{ problems: string[]; sb?: Superblock }> {
  const dir = join(repo.path, rel);
  let sb: Superblock;
  try {
    sb = await readSuperblock(dir);
  } catch (e) {
    return { problems: [`delta ${rel}: ${(e as Error).message}`] };
  }
  const name = `delta ${sb.from ? `${sb.from.slice(0, 12)}` : 'from scratch'} -> ${sb.to.slice(0, 12)}`;
  const problems: string[] = [];
  if (deltaDir(sb.from, sb.to) !== rel) problems.push(`${name}: it sits in ${rel}, its superblock belongs in ${deltaDir(sb.from, sb.to)}`);
  if (sb.from && !repo.hasObject('commit', sb.from)) problems.push(`${name}: its from-commit ${sb.from} is not in the repository`);
  if (!repo.hasObject('commit', sb.to)) problems.push(`${name}: its to-commit ${sb.to} is not in the repository`);
  problems.push(...(await checkDeltaParts(dir, sb)).map((p) => `${name}: ${p}`));
  for (const f of sb.fallbacks) {
    const type = FALLBACK_TYPE[f.objectType];
    if (!type || !repo.hasObject(type, f.checksum)) problems.push(`${name}: fallback object ${f.checksum} is not in the repository`);
  }
  const listed = summaryDeltas.get(deltaName(sb.from, sb.to));
  if (listed !== undefined && listed !== sha256(await readFile(join(dir, 'superblock')))) problems.push(`${name}: the summary lists another superblock checksum for it`);
  return { problems, sb };
}

const deltaName = (from: string | null, to: string) => (from ? `${from}-${to}` : to);
const shortName = (name: string) => name.split('-').map((c) => c.slice(0, 12)).join(' -> ');
const indexPath = (to: string) => `${deltaDir(null, to).replace(/^deltas\//, 'delta-indexes/')}.index`;

/** The deltas an index file names, with their superblock checksums; throws when it does not decode. */
async function readIndex(repo: Repo, rel: string): Promise<Map<string, string>> {
  const entries = decodeVariant('a{sv}', await readFile(join(repo.path, rel))) as [string, GVariantValue][];
  const table = entries.find(([k]) => k === 'ostree.static-deltas')?.[1];
  const out = new Map<string, string>();
  if (table?.type === 'a{sv}') for (const [n, v] of table.value as [string, GVariantValue][]) out.set(n, Buffer.isBuffer(v.value) ? v.value.toString('hex') : '');
  return out;
}

/**
 * delta-indexes/: clients of a summary with indexed deltas read `<to>.index` to find the deltas
 * to a commit, so each must name exactly the deltas present, with their superblocks' checksums.
 */
async function checkIndexes(repo: Repo, found: FoundDelta[], problems: string[]): Promise<void> {
  const root = join(repo.path, 'delta-indexes');
  const tops = await readdir(root).catch(() => undefined);
  // No delta-indexes/ at all: a summary without indexed deltas, which lists every delta itself.
  if (tops === undefined) return;
  const files: string[] = [];
  for (const a of tops) for (const b of await readdir(join(root, a)).catch(() => [] as string[])) files.push(join('delta-indexes', a, b));
  const byName = new Map(found.map((d) => [deltaName(d.from, d.to), d]));
  const indexed = new Map<string, Map<string, string>>();
  for (const rel of files.sort()) {
    let listed: Map<string, string>;
    try {
      listed = await readIndex(repo, rel);
    } catch (e) {
      problems.push(`${rel}: does not decode: ${(e as Error).message}`);
      continue;
    }
    indexed.set(rel, listed);
    for (const [n, sum] of listed) {
      const d = byName.get(n);
      if (!d) problems.push(`${rel}: lists delta ${n}, which is not in deltas/`);
      else if (indexPath(d.to) !== rel) problems.push(`${rel}: lists delta ${n}, whose index is ${indexPath(d.to)}`);
      else if (sum !== d.superblockSha256) problems.push(`${rel}: lists another superblock checksum for delta ${n}`);
    }
  }
  for (const d of found) {
    if (!indexed.get(indexPath(d.to))?.has(deltaName(d.from, d.to))) problems.push(`delta ${d.from ? d.from.slice(0, 12) : 'from scratch'} -> ${d.to.slice(0, 12)}: ${indexPath(d.to)} does not list it`);
  }
}

export async function checkDeltas(repo: Repo, summaryDeltas: Map<string, string>, problems: string[]): Promise<FoundDelta[]> {
  const found: FoundDelta[] = [];
  for (const rel of await deltaDirs(repo)) {
    const r = await checkOne(repo, rel, summaryDeltas);
    problems.push(...r.problems);
    if (r.sb) found.push({ from: r.sb.from, to: r.sb.to, parts: r.sb.parts.length, superblockSha256: sha256(await readFile(join(repo.path, rel, 'superblock'))) });
  }
  // The other way round too: a client trusting the summary asks for a listed delta, and a
  // missing one fails its pull instead of falling back to objects.
  const held = new Set(found.map((d) => deltaName(d.from, d.to)));
  for (const name of summaryDeltas.keys()) {
    if (!held.has(name)) problems.push(`the summary lists delta ${shortName(name)}, which repo/deltas/ does not hold`);
  }
  await checkIndexes(repo, found, problems);
  return found;
}
