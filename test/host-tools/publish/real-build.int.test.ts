import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrustedKeys, readSigned, type ReleaseManifest } from '../../../contract/index.js';
import { build } from '../../../host-tools/compose/build.js';
import { publish } from '../../../host-tools/publish/publish.js';
import { fixtureImage, type FixtureImage } from '../../helpers/build-harness.js';
import type { FixturePackage } from '../../helpers/fixture-archive.js';
import { ostree } from '../../helpers/ostree-cli.js';
import { releaseKey } from './harness.js';

// ota publish of what `ota build` really makes (the host's base debs plus a fixture package,
// amd64 so no emulator): the manifest's packages and arch come from the build's own dpkg
// database and metadata, and a version bump of one package is the one change it names.

const app = (version: string, nonce: string): FixturePackage[] => [{ name: 'fx-app', version, arch: 'amd64', files: { '/usr/share/fx/app': `${version} ${nonce}\n` } }];
let dir: string;
let fx: FixtureImage;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-publish-real-'));
  fx = await fixtureImage(join(dir, 'fx'), 'amd64', app('1', `${Date.now()} ${Math.random()}`));
}, 300_000);
afterAll(async () => {
  await fx?.server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('ota publish of an ota build commit', () => {
  it('publishes two builds; the manifest lists the build\'s packages and names the bumped one', async () => {
    const repoPath = join(fx.dir, 'repo');
    const key = await releaseKey(join(dir, 'keys'));
    const pub = join(dir, 'pub');
    const first = await build({ inputs: [fx.manifest], repoPath, cacheDir: fx.cacheDir, env: fx.env });
    const ref = first.images[0]!.ref;
    await publish({ repoPath, to: pub, key: key.dir, ref, version: '1.0' });
    await fx.republish(app('2', `${Date.now()} ${Math.random()}`));
    await rm(fx.lockPath);
    await build({ inputs: [fx.manifest], repoPath, cacheDir: fx.cacheDir, env: fx.env });
    const r = await publish({ repoPath, to: pub, key: key.dir, ref, version: '1.1' });

    expect((await ostree([`--repo=${join(pub, 'repo')}`, 'show', '--print-metadata-key=version', ref])).trim()).toBe("'1.1'");
    const m = (await readSigned('release', (await readFile(r.manifestPath, 'utf8')).trim(), await loadTrustedKeys(key.dir))).doc as ReleaseManifest;
    expect(m.arch).toBe('amd64');
    expect(m.packages.map((p) => p.name)).toEqual(expect.arrayContaining(['dpkg', 'base-files', 'fx-app']));
    expect(m.packages.length).toBe(first.images[0]!.packages);
    expect(m.changes).toEqual({ previousVersion: '1.0', added: [], removed: [], changed: [{ name: 'fx-app', from: '1', to: '2' }] });
    // A one-file change: the delta is a small fraction of a full pull.
    expect(m.deltas).toHaveLength(1);
    expect(m.deltas[0]!.bytes).toBeLessThan(m.fullPullBytes / 10);
    expect(m.unpackedBytes).toBeGreaterThan(m.fullPullBytes);
  }, 600_000);
});
