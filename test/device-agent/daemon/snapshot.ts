import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Every entry under `dir` with its size and modification time: equal snapshots mean nothing was
 * written there, not even a file rewritten with the same bytes (which a content hash would miss).
 */
export async function diskSnapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      const st = await lstat(p);
      out[r] = `${st.size} ${st.mtimeMs}`;
      if (e.isDirectory()) await walk(p, r);
    }
  };
  await walk(dir, '');
  return out;
}
