/**
 * The image steps the boot proof (boot-e2e.ts) and the update proof (update-build.ts) share: the
 * signed local archive of the e2e packages, the manifest that names it beside the host's apt
 * sources, and a commit of a built tree with a few files laid over it (C's failing check, D's
 * initramfs), metadata kept.
 *
 * @example
 * await writeLocalArchive(work, 'arm64', [REPORT_PACKAGE], 'deb-ota e2e');
 * await writeFile(join(work, 'image.yaml'), manifestLines({ comment: '...', name: 'e2e', board, work, packages: ['systemd-sysv', 'ota-e2e-report'] }).join('\n'));
 * const b = await commitLayer({ repoPath, work, base: a.checksum, ref: 'e2e-broken', subject: 'A with a broken initramfs' }, async (dir, kernel) => { ... });
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Board } from '../../host-tools/board/schema.js';
import { commitDirectory, commitUnion, encodeMetadata, readCommit, Repo } from '../../node-ostree/index.js';
import { buildArchive, disposeGpgKey, makeGpgKey, type FixturePackage, type GpgKey } from '../helpers/fixture-archive.js';

/** `dir`/archive (suite e2e, main) signed by a fresh key, and that key as `dir`/archive-key.asc. */
export async function writeLocalArchive(dir: string, arch: string, packages: FixturePackage[], keyName: string): Promise<void> {
  let key: GpgKey | undefined;
  try {
    key = await makeGpgKey(dir, keyName);
    await buildArchive(join(dir, 'archive'), [{
      suite: 'e2e',
      arches: [arch],
      // older than Debian's: the host archive's Date stays the build's newest (the commit time)
      date: new Date('2023-06-10T00:00:00Z'),
      listUncompressed: true,
      components: { main: packages },
    }], { key });
    await writeFile(join(dir, 'archive-key.asc'), await readFile(key.armored));
  } finally {
    if (key) {
      await disposeGpgKey(key);
      await rm(join(key.home, '..'), { recursive: true, force: true });
    }
  }
}

export interface ManifestSpec {
  comment: string;
  name: string;
  board: Board;
  /** Where writeLocalArchive wrote the archive (and the manifest's relative paths start). */
  dir: string;
  hostSuites?: string[];
  packages: string[];
  debs?: string[];
}

/** A minbase manifest: the host's apt sources (or some of their suites) and the local archive. */
export function manifestLines(m: ManifestSpec): string[] {
  return [
    `# ${m.comment}`,
    `name: ${m.name}`,
    `arch: ${m.board.arch}`,
    `board: ${m.board.name}`,
    'sources:',
    '  - uri: host',
    ...(m.hostSuites ? [`    suites: [${m.hostSuites.join(', ')}]`] : []),
    `  - uri: ${pathToFileURL(join(m.dir, 'archive')).href}`,
    '    suites: [e2e]',
    '    components: [main]',
    '    keyring: archive-key.asc',
    'variant: minbase',
    `packages: [${m.packages.join(', ')}]`,
    ...(m.debs ? [`debs: [${m.debs.join(', ')}]`] : []),
    '',
  ];
}

export interface LayerSpec {
  repoPath: string;
  /** Where the layer's scratch folder goes. */
  work: string;
  /** The commit (or ref) whose tree, timestamp and metadata the new commit keeps. */
  base: string;
  ref: string;
  subject: string;
}

/** `mkdir -p` of `path`'s folders under `root`, each 0755 (a commit records the mode). */
export async function layerDirs(root: string, path: string): Promise<void> {
  await mkdir(join(root, dirname(path)), { recursive: true });
  for (let d = dirname(path); d !== '.' && d !== '/'; d = dirname(d)) await chmod(join(root, d), 0o755);
}

/**
 * A commit of `base`'s tree with what `fill` writes into an empty folder laid over it (root-owned,
 * no xattrs), its parent `base`, at `ref`. `fill` and the result get `base`'s kernel version (its
 * ostree.linux).
 */
export async function commitLayer(spec: LayerSpec, fill: (dir: string, kernel: string) => Promise<void>): Promise<{ checksum: string; kernel: string }> {
  const repo = await Repo.open(spec.repoPath);
  const layerDir = await mkdtemp(join(spec.work, 'layer-'));
  try {
    const from = readCommit(repo, spec.base);
    const kernel = String(from.metadata.get('ostree.linux')?.value ?? '');
    await fill(layerDir, kernel);
    const layer = await commitDirectory(repo, layerDir, { owner: { uid: 0, gid: 0 }, skipXattrs: true });
    const r = await commitUnion(repo, [from.checksum, layer.checksum], {
      ref: spec.ref, parent: from.checksum, timestamp: from.timestamp, subject: spec.subject, metadata: encodeMetadata(Object.fromEntries(from.metadata)),
    });
    return { checksum: r.checksum, kernel };
  } finally {
    repo.close();
    await rm(layerDir, { recursive: true, force: true });
  }
}
