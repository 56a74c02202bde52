/**
 * Images for the `ota build` tests: fixture debs (test/helpers/fixture-archive.ts) on top of a
 * small real base from the build host's own apt sources (dpkg, dash, coreutils, base-files,
 * base-passwd: what dpkg and maintainer scripts need to run in the image), so that stage 2 runs
 * the image's own dpkg and shell, through qemu-user for arm64. The real debs are cached under
 * ~/.cache/ota (or $OTA_TEST_CACHE) across runs; the fixture archive is served on loopback.
 *
 * @example
 * const fx = await fixtureImage(dir, 'arm64', [{ name: 'hello', version: '1', files: { '/usr/bin/hello': '#!/bin/sh\n' } }]);
 * const r = await build({ inputs: [fx.manifest], repoPath: join(dir, 'repo'), cacheDir: fx.cacheDir, env: fx.env });
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { run } from '../../common/exec.js';
import { emulationFor } from '../../host-tools/compose/emulation.js';
import { join } from 'node:path';
import { buildArchive, makeGpgKey, serveDirectory, type FixturePackage, type FixtureServer, type GpgKey } from './fixture-archive.js';

export const REAL_BASE = ['dpkg', 'dash', 'coreutils', 'sed', 'grep', 'findutils', 'diffutils', 'libc-bin', 'base-files', 'base-passwd'];

export interface FixtureImage {
  dir: string;
  manifest: string;
  lockPath: string;
  cacheDir: string;
  env: NodeJS.ProcessEnv;
  server: FixtureServer;
  key: GpgKey;
  /** Rebuilds the archive with other fixture packages (same server, same key). */
  republish(packages: FixturePackage[]): Promise<void>;
  /** Rewrites the manifest (other requested packages, excludes). */
  writeManifest(packages: string[], extra?: string): Promise<void>;
}

export const testCacheDir = (): string => process.env.OTA_TEST_CACHE ?? join(homedir(), '.cache', 'ota');

export async function fixtureImage(dir: string, arch: string, packages: FixturePackage[], name = 'fx'): Promise<FixtureImage> {
  await mkdir(dir, { recursive: true });
  const key = await makeGpgKey(dir);
  const archiveDir = join(dir, 'archive');
  const publish = (pkgs: FixturePackage[]) => buildArchive(archiveDir, [{ suite: 'fixture', arches: [arch], components: { main: pkgs } }], { key });
  await publish(packages);
  const server = await serveDirectory(archiveDir);
  const manifest = join(dir, 'image.yaml');
  const writeManifest = async (requested: string[], extra = '') => {
    await writeFile(
      manifest,
      [
        `name: ${name}`,
        `arch: ${arch}`,
        'sources:',
        '  - uri: host',
        '  - uri: ${OTA_FIXTURE_MIRROR}',
        '    suites: [fixture]',
        '    components: [main]',
        `    keyring: ${key.armored}`,
        'variant: none',
        `packages: [${[...REAL_BASE, ...requested].join(', ')}]`,
        extra,
      ].join('\n'),
    );
  };
  await writeManifest(packages.map((p) => p.name));
  return {
    dir,
    manifest,
    lockPath: join(dir, 'image.lock'),
    cacheDir: testCacheDir(),
    env: { ...process.env, OTA_FIXTURE_MIRROR: server.url },
    server,
    key,
    republish: async (pkgs) => void (await publish(pkgs)),
    writeManifest,
  };
}

/**
 * Runs the image's own dpkg on a checkout (natively for amd64, through qemu-user with the
 * checkout as its library root otherwise), against the image's database.
 */
export async function imageDpkg(tree: string, arch: string, args: string[]): Promise<string> {
  const dpkg = [join(tree, 'usr/bin/dpkg'), `--admindir=${join(tree, 'usr/lib/sysimage/dpkg')}`, ...args];
  const emulation = await emulationFor(arch);
  const argv = emulation.native ? dpkg : [emulation.interpreter, '-L', tree, ...dpkg];
  return (await run(`the image's dpkg ${args.join(' ')}`, argv)).stdout;
}
