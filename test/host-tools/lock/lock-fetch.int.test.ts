import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { lock } from '../../../host-tools/lock/lock.js';
import { buildArchive, disposeGpgKey, makeGpgKey, serveDirectory, type FixtureServer, type GpgKey } from '../../helpers/fixture-archive.js';
import { listDir, mirrorEnv, parseLockText, workspace, writeManifest, type Workspace } from '../../helpers/lock-harness.js';

// A source that cannot be reached: transient failures are retried (with the client's default
// backoff, 0.5 + 1 + 2 s), persistent ones end as ERR_OTA_FETCH naming the URL and the attempts,
// and nothing is written. The tests run concurrently: each has its own server.

let tmp: string;
let key: GpgKey;
let root: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-fetch-'));
  key = await makeGpgKey(tmp);
  root = path.join(tmp, 'archive');
  await buildArchive(
    root,
    [{ suite: 'stable', arches: ['amd64'], components: { main: [{ name: 'app', version: '1.0-1', depends: 'libbase' }, { name: 'libbase', version: '1.0-1' }] } }],
    { key },
  );
}, 30_000);

afterAll(async () => {
  if (key) await disposeGpgKey(key);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function setup(name: string): Promise<{ ws: Workspace; server: FixtureServer }> {
  const ws = await workspace(tmp, name);
  await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['app'] });
  return { ws, server: await serveDirectory(root) };
}

const run = (ws: Workspace, server: FixtureServer, update = false) =>
  lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(server.url), update });

describe.concurrent('unreachable sources', () => {
  it('a closed server fails with ERR_OTA_FETCH after 4 attempts, writing nothing', async () => {
    const { ws, server } = await setup('closed');
    await server.close();
    const started = Date.now();
    const err = await run(ws, server).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OtaError);
    expect(err).toMatchObject({
      code: 'ERR_OTA_FETCH',
      exitCode: 1,
      message: expect.stringMatching(new RegExp(`cannot reach ${server.url}/dists/stable/InRelease after 4 attempts: ECONNREFUSED`)),
    });
    expect((err as OtaError).message).toMatch(/^sources\[0\] /); // says which manifest source
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000); // it did back off between attempts
    expect(await listDir(ws.dir)).toEqual(['image.yaml']);
  });

  it('connection resets beyond the retries fail with ERR_OTA_FETCH; an existing lock is kept', async () => {
    const { ws, server } = await setup('reset');
    const good = (await run(ws, server)).text;
    server.fail('Packages.xz', 'reset', 4);
    // A fresh cache, so the index must be fetched again.
    await rm(ws.cacheDir, { recursive: true });
    await writeFile(ws.lockPath, good);
    const err = await run(ws, server, true).catch((e: unknown) => e);
    await server.close();
    expect(err).toMatchObject({
      code: 'ERR_OTA_FETCH',
      message: expect.stringMatching(/main\/binary-amd64\/Packages\.xz after 4 attempts: /),
    });
    expect(server.requests.filter((p) => p.endsWith('Packages.xz'))).toHaveLength(1 + 4);
    expect(await readFile(ws.lockPath, 'utf8')).toBe(good);
  });

  it('two 503s in a row are retried and the lock succeeds', async () => {
    const { ws, server } = await setup('503');
    server.fail('InRelease', 503, 2);
    const r = await run(ws, server);
    await server.close();
    expect([...parseLockText(r.text).packages.keys()]).toEqual(['app', 'libbase']);
    expect(server.requests).toEqual([
      '/dists/stable/InRelease',
      '/dists/stable/InRelease',
      '/dists/stable/InRelease',
      '/dists/stable/main/binary-amd64/Packages.xz',
    ]);
  });

  it('a truncated download is retried too', async () => {
    const { ws, server } = await setup('truncate');
    server.fail('Packages.xz', 'truncate', 1);
    const r = await run(ws, server);
    await server.close();
    expect([...parseLockText(r.text).packages.keys()]).toEqual(['app', 'libbase']);
    expect(server.requests.filter((p) => p.endsWith('Packages.xz'))).toHaveLength(2);
  });

  it('a 404 for InRelease and Release says the suite is not there, without retrying', async () => {
    const ws = await workspace(tmp, 'missing');
    await writeManifest(ws.manifest, { sources: [{ suites: ['nonesuch'], keyring: key.armored }], packages: ['app'] });
    const server = await serveDirectory(root);
    const err = await lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(server.url) }).catch((e: unknown) => e);
    await server.close();
    expect(err).toMatchObject({ code: 'ERR_OTA_FETCH', message: expect.stringMatching(/dists\/nonesuch has neither InRelease nor Release/) });
    expect(server.requests).toEqual(['/dists/nonesuch/InRelease', '/dists/nonesuch/Release']);
  });
});
