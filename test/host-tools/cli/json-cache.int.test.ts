import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ota, type CliResult } from '../../helpers/cli.js';
import { buildArchive, disposeGpgKey, makeGpgKey, serveDirectory, type FixturePackage, type FixtureServer, type GpgKey } from '../../helpers/fixture-archive.js';
import { MIRROR_VAR, workspace, writeManifest, type Workspace } from '../../helpers/lock-harness.js';

// `--json` on `ota lock` (its modes) and where `ota lock` and `ota build` keep their cache
// ($OTA_CACHE_DIR, $XDG_CACHE_HOME, --cache-dir), through the CLI's main() against a fixture
// archive on 127.0.0.1. stdout must be exactly one JSON document (docs/cli-json.md).

const app1: FixturePackage = { name: 'app', version: '1.0-1', depends: 'libbase, libold' };
const app2: FixturePackage = { name: 'app', version: '1.1-1', depends: 'libbase, libnew' };
const libbase: FixturePackage = { name: 'libbase', version: '1.0-1' };
const libold: FixturePackage = { name: 'libold', version: '1.0-1' };
const libnew: FixturePackage = { name: 'libnew', version: '1.0-1' };

let tmp: string;
let key: GpgKey;
let server1: FixtureServer;
let server2: FixtureServer;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-cli-json-'));
  key = await makeGpgKey(tmp);
  const date = new Date('2024-03-01T12:00:00Z');
  const [a1, a2] = await Promise.all([
    buildArchive(path.join(tmp, 'archive-1'), [{ suite: 'stable', arches: ['amd64'], date, components: { main: [app1, libbase, libold] } }], { key }),
    buildArchive(path.join(tmp, 'archive-2'), [{ suite: 'stable', arches: ['amd64'], date, components: { main: [app1, app2, libbase, libold, libnew] } }], { key }),
  ]);
  [server1, server2] = await Promise.all([serveDirectory(a1.root), serveDirectory(a2.root)]);
}, 30_000);

afterAll(async () => {
  await server1?.close();
  await server2?.close();
  if (key) await disposeGpgKey(key);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

afterEach(() => {
  vi.unstubAllEnvs();
});

/** A workspace locking `packages` from `server`, with HOME moved into it so that ~/.cache is visible to the test. */
async function setup(name: string, packages: string[] = ['app'], server = server1): Promise<Workspace & { home: string }> {
  const ws = await workspace(tmp, name);
  await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.armored }], packages });
  vi.stubEnv(MIRROR_VAR, server.url);
  vi.stubEnv('OTA_CACHE_DIR', '');
  vi.stubEnv('XDG_CACHE_HOME', '');
  vi.stubEnv('HOME', path.join(ws.dir, 'home'));
  return { ...ws, home: path.join(ws.dir, 'home') };
}

/** stdout as the one JSON document it must be. */
function doc(r: CliResult): Record<string, unknown> {
  expect(r.out).toHaveLength(1);
  return JSON.parse(r.out[0]!) as Record<string, unknown>;
}

describe('ota lock --json', () => {
  it('says what was locked, then what --update changed, then that nothing did', async () => {
    const ws = await setup('lock-json');
    vi.stubEnv('OTA_CACHE_DIR', ws.cacheDir);
    const first = await ota('lock', ws.manifest, '--json');
    expect(first.code).toBe(0);
    expect(doc(first)).toEqual({ manifestPath: ws.manifest, lockPath: ws.lockPath, status: 'written', packages: 3, diff: null, downloadBytes: expect.any(Number), seconds: expect.any(Number) });

    vi.stubEnv(MIRROR_VAR, server2.url);
    const update = await ota('lock', '--update', ws.manifest, '--json');
    expect(update.code).toBe(0);
    expect(doc(update)).toMatchObject({
      status: 'updated',
      packages: 3,
      diff: { added: [{ name: 'libnew', version: '1.0-1' }], removed: [{ name: 'libold', version: '1.0-1' }], changed: [{ name: 'app', from: '1.0-1', to: '1.1-1', direction: 'upgrade' }] },
    });
    expect(doc(await ota('lock', '--update', ws.manifest, '--json'))).toMatchObject({ status: 'up-to-date', diff: null });
  });

  it('--check: satisfied, or the stale error as the document with exit 3', async () => {
    const ws = await setup('check-json');
    vi.stubEnv('OTA_CACHE_DIR', ws.cacheDir);
    expect((await ota('lock', ws.manifest, '-q')).code).toBe(0);
    expect(doc(await ota('lock', '--check', ws.manifest, '--json'))).toEqual({ manifestPath: ws.manifest, lockPath: ws.lockPath, satisfied: true });

    await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['app', 'libnew'] });
    const stale = await ota('lock', '--check', ws.manifest, '--json');
    expect(stale.code).toBe(3);
    expect(doc(stale)).toEqual({ error: { code: 'ERR_OTA_LOCK_STALE', message: expect.stringContaining('no longer satisfies'), hint: expect.any(String), details: [expect.stringContaining('libnew')], exitCode: 3 } });
  });

  it('--explain: the chain and the dependents', async () => {
    const ws = await setup('explain-json');
    vi.stubEnv('OTA_CACHE_DIR', ws.cacheDir);
    expect((await ota('lock', ws.manifest, '-q')).code).toBe(0);
    expect(doc(await ota('lock', '--explain', 'libbase', ws.manifest, '--json'))).toEqual({
      lockPath: ws.lockPath,
      name: 'libbase',
      version: '1.0-1',
      root: 'requested',
      chain: [{ name: 'app', version: '1.0-1' }, { name: 'libbase', version: '1.0-1', via: 'Depends: libbase' }],
      dependents: ['app'],
    });
  });
});

describe('the cache directory of ota build and ota lock', () => {
  // The manifest asks for a package no source has: `ota build` locks it first, which reads the
  // archive indices into the cache, then stops with exit 2 before it opens the repository.
  async function buildUnknown(ws: Workspace, ...extra: string[]): Promise<void> {
    const r = await ota('build', ws.manifest, '--repo', path.join(ws.dir, 'repo'), '-q', ...extra);
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown package nosuch');
    expect(existsSync(path.join(ws.dir, 'repo'))).toBe(false);
  }

  it('ota build uses $OTA_CACHE_DIR, not the home directory', async () => {
    const ws = await setup('build-env', ['nosuch']);
    vi.stubEnv('OTA_CACHE_DIR', path.join(ws.dir, 'env-cache'));
    await buildUnknown(ws);
    expect(await readdir(path.join(ws.dir, 'env-cache'))).toEqual(expect.arrayContaining(['indices', 'releases']));
    expect(existsSync(ws.home)).toBe(false);
  });

  it('ota build uses $XDG_CACHE_HOME/ota when OTA_CACHE_DIR is unset', async () => {
    const ws = await setup('build-xdg', ['nosuch']);
    vi.stubEnv('XDG_CACHE_HOME', path.join(ws.dir, 'xdg'));
    await buildUnknown(ws);
    expect(await readdir(path.join(ws.dir, 'xdg', 'ota'))).toEqual(expect.arrayContaining(['indices', 'releases']));
    expect(existsSync(ws.home)).toBe(false);
  });

  it('--cache-dir wins over the environment, on ota build and on ota lock', async () => {
    const ws = await setup('flag', ['nosuch']);
    vi.stubEnv('OTA_CACHE_DIR', path.join(ws.dir, 'env-cache'));
    await buildUnknown(ws, '--cache-dir', path.join(ws.dir, 'build-flag'));
    expect(await readdir(path.join(ws.dir, 'build-flag'))).toEqual(expect.arrayContaining(['indices', 'releases']));

    await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['app'] });
    expect((await ota('lock', ws.manifest, '-q', '--cache-dir', path.join(ws.dir, 'lock-flag'))).code).toBe(0);
    expect(await readdir(path.join(ws.dir, 'lock-flag'))).toEqual(expect.arrayContaining(['indices', 'releases']));
    expect(existsSync(path.join(ws.dir, 'env-cache'))).toBe(false);
  });
});
