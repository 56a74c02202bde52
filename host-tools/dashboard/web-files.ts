/**
 * The page's files (docs/dashboard.md, "How it is built"): plain HTML, CSS and ES modules in
 * `host-tools/dashboard/web/`, read once at start and served as they are, with no build step.
 * The compiled CLI runs from `dist/`, where tsc copies no such files, so the folder is looked
 * for beside this module and then in the source tree.
 *
 * @example
 * const web = await loadWebFiles();
 * web.get('app.js')?.type; // 'text/javascript; charset=utf-8'
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';

export interface WebFile {
  type: string;
  body: Buffer;
}

export type WebFiles = Map<string, WebFile>;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export function webRoot(): string {
  const here = join(import.meta.dirname, 'web');
  if (existsSync(here)) return here;
  // dist/host-tools/dashboard -> host-tools/dashboard/web of the package.
  return join(import.meta.dirname, '..', '..', '..', 'host-tools', 'dashboard', 'web');
}

export async function loadWebFiles(root = webRoot()): Promise<WebFiles> {
  const files: WebFiles = new Map();
  for (const name of await readdir(root, { recursive: true })) {
    const type = TYPES[extname(name)];
    if (type !== undefined) files.set(name.split('\\').join('/'), { type, body: await readFile(join(root, name)) });
  }
  return files;
}
