import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../../host-tools/compose/build.js';
import { catFile, checkout, Repo } from '../../../node-ostree/index.js';
import { fixtureImage, imageDpkg, type FixtureImage } from '../../helpers/build-harness.js';
import { buildArchive } from '../../helpers/fixture-archive.js';
import { otaRejection } from '../../helpers/errors.js';
import { removeTree } from '../../helpers/ostree-cli.js';

// `ota build` installs a manifest's local .deb (docs/manifest.md, "Local debs") like any locked
// package: a real .deb made by dpkg-deb beside the manifest, its dependency from the fixture
// archive on 127.0.0.1, stage 2 running the image's own dpkg (amd64, natively).

let root: string;
let fx: FixtureImage;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-build-local-'));
  fx = await fixtureImage(join(root, 'img'), 'amd64', [{ name: 'fx-lib', version: '1', arch: 'amd64', files: { '/usr/share/fx-lib/v': '1\n' } }]);
  const built = await buildArchive(join(root, 'local-src'), [
    {
      suite: 's', arches: ['amd64'],
      components: { main: [{ name: 'fx-local', version: '3.1', arch: 'amd64', depends: 'fx-lib', files: { '/usr/bin/fx-local': '#!/bin/sh\necho local\n' } }] },
    },
  ]);
  await mkdir(join(fx.dir, 'local'));
  await copyFile([...built.debs.values()][0]!.path, join(fx.dir, 'local/fx-local_3.1_amd64.deb'));
  await fx.writeManifest(['fx-lib'], 'debs: [local/fx-local_3.1_amd64.deb]');
}, 120_000);

afterAll(async () => {
  await fx?.server.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('ota build with a local deb', () => {
  it('installs it like any package, as dpkg in the image reports', async () => {
    const repoPath = join(fx.dir, 'repo');
    const r = await build({ inputs: [fx.manifest], repoPath, cacheDir: fx.cacheDir, env: fx.env });
    const repo = await Repo.open(repoPath);
    const tree = join(root, 'tree');
    try {
      expect((await catFile(repo, r.images[0]!.checksum, '/usr/bin/fx-local')).toString()).toBe('#!/bin/sh\necho local\n');
      await checkout(repo, r.images[0]!.checksum, tree);
    } finally {
      repo.close();
    }
    expect((await imageDpkg(tree, 'amd64', ['-s', 'fx-local']))).toMatch(/Status: install ok installed[\s\S]*Version: 3\.1/);
    expect((await imageDpkg(tree, 'amd64', ['--audit'])).trim()).toBe('');
    await removeTree(tree);
  }, 300_000);

  it('refuses to build the lock once the deb beside it is another file, before fetching anything', async () => {
    const other = await buildArchive(join(root, 'other-src'), [{ suite: 's', arches: ['amd64'], components: { main: [{ name: 'fx-local', version: '3.1', arch: 'amd64', depends: 'fx-lib', files: { '/usr/bin/fx-local': '#!/bin/sh\necho swapped\n' } }] } }]);
    await copyFile([...other.debs.values()][0]!.path, join(fx.dir, 'local/fx-local_3.1_amd64.deb'));
    const e = await otaRejection(build({ inputs: [fx.lockPath], repoPath: join(fx.dir, 'repo2'), cacheDir: fx.cacheDir, env: fx.env }));
    expect(e.code).toBe('ERR_OTA_LOCKFILE');
    expect(e.details?.join('\n')).toMatch(/local deb local\/fx-local_3\.1_amd64\.deb has changed since the lock/);
  }, 120_000);
});
