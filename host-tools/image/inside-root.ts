import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `path` inside the tree at `root`, as a process chrooted there would find it: every symlink on
 * the way is followed inside the tree (an absolute target starts again at `root`, `..` stops at
 * it). A board's files are read from a deployed image and its folder; a link such as
 * `/usr/lib/u-boot/x.bin -> /etc/shadow` in a package must name the image's file, not the build
 * host's. Undefined when the path does not exist (or loops).
 *
 * @example
 * resolveInside(deployed, '/usr/lib/u-boot/rpi_4/u-boot.bin'); // '<deployed>/usr/lib/u-boot/rpi_4/u-boot.bin'
 */
export function resolveInside(root: string, path: string): string | undefined {
  const todo = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let hops = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const here = join(root, ...done, part);
    let st;
    try {
      st = lstatSync(here);
    } catch {
      return undefined;
    }
    if (!st.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++hops > 40) return undefined;
    const target = readlinkSync(here);
    if (target.startsWith('/')) done.length = 0;
    todo.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return join(root, ...done);
}
