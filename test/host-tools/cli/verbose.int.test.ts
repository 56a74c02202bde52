import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ota } from '../../helpers/cli.js';
import { buildArchive, disposeGpgKey, makeGpgKey, serveDirectory, type FixtureServer, type GpgKey } from '../../helpers/fixture-archive.js';
import { MIRROR_VAR, workspace, writeManifest } from '../../helpers/lock-harness.js';

// `ota -v`: each subprocess and HTTP request as a line on main()'s err sink, through a real
// `ota lock` against a fixture archive on 127.0.0.1 (InRelease fetched, then checked by gpgv).

let tmp: string;
let key: GpgKey;
let server: FixtureServer;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-verbose-'));
  key = await makeGpgKey(tmp);
  const archive = await buildArchive(path.join(tmp, 'archive'), [{ suite: 'stable', arches: ['amd64'], date: new Date('2024-03-01T12:00:00Z'), components: { main: [{ name: 'app', version: '1.0-1' }] } }], { key });
  server = await serveDirectory(archive.root);
}, 30_000);

afterAll(async () => {
  await server?.close();
  if (key) await disposeGpgKey(key);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

afterEach(() => {
  vi.unstubAllEnvs();
});

async function lockWith(name: string, args: (manifest: string) => string[]) {
  const ws = await workspace(tmp, name);
  await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['app'] });
  vi.stubEnv(MIRROR_VAR, server.url);
  vi.stubEnv('OTA_CACHE_DIR', ws.cacheDir);
  return ota(...args(ws.manifest));
}

describe('ota -v / --verbose', () => {
  it('shows each HTTP request (method, URL, status) and each subprocess (program and arguments)', async () => {
    const r = await lockWith('verbose', (m) => ['-v', 'lock', m]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`http: GET ${server.url}/dists/stable/InRelease 200\n`);
    expect(r.err).toMatch(/^exec: gpgv .*--keyring .*InRelease \(.+\)$/m);
    // the results stay on stdout, the traces do not go there
    expect(r.out.join('\n')).not.toMatch(/http:|exec:/);
  });

  it('is a global option, accepted after the command too', async () => {
    const r = await lockWith('verbose-after', (m) => ['lock', m, '--verbose']);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`http: GET ${server.url}/dists/stable/InRelease 200\n`);
  });

  it('prints no traces without the flag', async () => {
    const r = await lockWith('quiet', (m) => ['lock', m]);
    expect(r.code).toBe(0);
    expect(r.err).not.toMatch(/^(http|exec): /m);
  });
});
