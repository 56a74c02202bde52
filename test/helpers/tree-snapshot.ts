import { createHash } from 'node:crypto';
import { readdir, readFile, lstat } from 'node:fs/promises';
import { join } from 'node:path';

/** Every file under `dir` with its mode and SHA-256: equal snapshots mean nothing on disk changed. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      const st = await lstat(p);
      if (e.isDirectory()) {
        out[`${r}/`] = st.mode.toString(8);
        await walk(p, r);
      } else out[r] = `${st.mode.toString(8)} ${e.isFile() ? createHash('sha256').update(await readFile(p)).digest('hex') : ''}`;
    }
  };
  await walk(dir, '');
  return out;
}
