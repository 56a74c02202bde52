import { chmod, lchown, lstat, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../common/exec.js';

/**
 * Applies an overlayfs upper directory to its lower directory, after the overlay is gone: what
 * stage 2's maintainer scripts changed lands in the hardlinked checkout without a single write
 * through a hardlink (objects the repository shares stay untouched). Whiteouts (0:0 character
 * devices) delete, opaque directories drop what the lower one held, everything else is renamed
 * over (same file system, so no data is copied), and overlayfs' own `trusted.overlay.*`
 * bookkeeping is stripped so that it never reaches a commit.
 *
 * @example
 * const r = await mergeUpper('/repo/tmp/ota-stage2-x/upper', '/repo/tmp/ota-stage2-x/root');
 */
export interface MergeResult {
  /** Files, symlinks and directories moved in from the upper directory. */
  moved: number;
  removed: number;
}

export async function mergeUpper(upper: string, lower: string): Promise<MergeResult> {
  const attrs = await overlayAttributes(upper);
  const opaque = new Set([...attrs].filter(([, names]) => names.has('trusted.overlay.opaque')).map(([p]) => p));
  const result: MergeResult = { moved: 0, removed: 0 };

  const walk = async (rel: string): Promise<void> => {
    const names = await readdir(join(upper, rel));
    if (opaque.has(rel)) {
      const keep = new Set(names);
      for (const n of await readdir(join(lower, rel))) {
        if (!keep.has(n)) {
          await rm(join(lower, rel, n), { recursive: true, force: true });
          result.removed++;
        }
      }
    }
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const u = join(upper, r);
      const l = join(lower, r);
      const st = await lstat(u);
      const existing = await lstat(l).catch(() => undefined);
      if (st.isCharacterDevice() && st.rdev === 0) {
        if (existing) {
          await rm(l, { recursive: true, force: true });
          result.removed++;
        }
        continue;
      }
      if (st.isDirectory() && existing?.isDirectory()) {
        await walk(r);
        await lchown(l, st.uid, st.gid);
        await chmod(l, st.mode & 0o7777);
        continue;
      }
      // Never follow anything on the lower side: a symlink there is replaced, not written through.
      if (existing) await rm(l, { recursive: true, force: true });
      await rename(u, l);
      result.moved++;
    }
  };
  await walk('');

  // Strip overlayfs' xattrs from everything that moved in (and from the directories we kept).
  const byAttr = new Map<string, string[]>();
  for (const [rel, names] of attrs) {
    for (const n of names) {
      const list = byAttr.get(n) ?? [];
      list.push(join(lower, rel));
      byAttr.set(n, list);
    }
  }
  for (const [name, paths] of byAttr) {
    for (let i = 0; i < paths.length; i += 200) {
      // -h: the attribute of a symlink itself; missing paths (deleted later by a whiteout) are fine.
      await run('strip overlayfs attributes', ['setfattr', '-h', '-x', name, ...paths.slice(i, i + 200)], { okCodes: [0, 1] });
    }
  }
  return result;
}

/** `trusted.overlay.*` attribute names by path relative to `upper` ('' for itself), read with one getfattr. */
async function overlayAttributes(upper: string): Promise<Map<string, Set<string>>> {
  const { stdout } = await run('read overlayfs attributes', ['getfattr', '-R', '-P', '-h', '-d', '-m', '^trusted\\.overlay\\.', '-e', 'hex', '--absolute-names', upper], { okCodes: [0, 1] });
  const out = new Map<string, Set<string>>();
  let current: string | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith('# file: ')) {
      const abs = unescapeOctal(line.slice('# file: '.length));
      current = abs === upper ? '' : abs.startsWith(`${upper}/`) ? abs.slice(upper.length + 1) : undefined;
      if (current !== undefined) out.set(current, new Set());
    } else if (current !== undefined && line.includes('=')) {
      out.get(current)!.add(line.slice(0, line.indexOf('=')));
    }
  }
  return out;
}

/** getfattr writes unusual bytes in file names as \NNN octal escapes. */
function unescapeOctal(s: string): string {
  return Buffer.from(s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), 'latin1').toString('utf8');
}
