import { createHash } from 'node:crypto';
import { parseStanzas } from '../apt/control.js';
import { catFile, listTree, type Repo } from '../../node-ostree/index.js';
import type { UnpackedPackage } from './dpkg-db.js';
import { debControlRef, debDataRef } from './plan-debs.js';

/**
 * Reads an imported deb back as dpkg sees it when unpacking: its control members and its data
 * entries (archive order is name order for packages built by dpkg-deb >= 1.19, which is what
 * the walk yields). File contents are read only when the package ships no md5sums.
 *
 * @example
 * const pkg = await unpackedFromRepo(repo, sha256);
 */
export async function unpackedFromRepo(repo: Repo, sha256: string): Promise<UnpackedPackage> {
  const members = new Map<string, Buffer>();
  for (const e of listTree(repo, debControlRef(sha256))) {
    if (e.type === 'file') members.set(e.path.replace(/^\/(\.\/)?/, ''), await catFile(repo, debControlRef(sha256), e.path));
  }
  const controlText = members.get('control');
  if (!controlText) throw new Error(`deb ${sha256} has no control file in its control commit, this is a bug`);
  const control = parseStanzas(controlText.toString('utf8'))[0]!;
  const needMd5 = !members.has('md5sums');
  const entries: UnpackedPackage['entries'] = [];
  for (const e of listTree(repo, debDataRef(sha256), { details: needMd5 })) {
    const isLink = needMd5 && e.symlinkTarget !== undefined;
    if (e.type === 'directory') entries.push({ path: e.path, type: 'directory' });
    else if (isLink) entries.push({ path: e.path, type: 'symlink' });
    else if (needMd5) entries.push({ path: e.path, type: 'file', md5: createHash('md5').update(await catFile(repo, debDataRef(sha256), e.path)).digest('hex') });
    else entries.push({ path: e.path, type: 'file' });
  }
  return { control, members, entries };
}
