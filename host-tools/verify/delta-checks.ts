import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Repo } from '../../node-ostree/index.js';
import { deltaDir } from '../publish/delta.js';
import { checkDeltaParts, readSuperblock, sha256, type Superblock } from '../bundle/static-delta.js';

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
  const key = sb.from ? `${sb.from}-${sb.to}` : sb.to;
  const listed = summaryDeltas.get(key);
  if (listed !== undefined && listed !== sha256(await readFile(join(dir, 'superblock')))) problems.push(`${name}: the summary lists another superblock checksum for it`);
  return { problems, sb };
}

export async function checkDeltas(repo: Repo, summaryDeltas: Map<string, string>, problems: string[]): Promise<FoundDelta[]> {
  const found: FoundDelta[] = [];
  for (const rel of await deltaDirs(repo)) {
    const r = await checkOne(repo, rel, summaryDeltas);
    problems.push(...r.problems);
    if (r.sb) found.push({ from: r.sb.from, to: r.sb.to, parts: r.sb.parts.length });
  }
  return found;
}
