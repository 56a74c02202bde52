import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lock } from '../../../host-tools/lock/lock.js';
import { ota } from '../../helpers/cli.js';
import { otaRejection } from '../../helpers/errors.js';
import { buildArchive, disposeGpgKey, makeGpgKey, serveDirectory, type FixturePackage, type FixtureServer, type GpgKey } from '../../helpers/fixture-archive.js';
import { listDir, mirrorEnv, parseLockText, requestsDuring, workspace, writeManifest, type Workspace } from '../../helpers/lock-harness.js';
import { startProxy, unreachableProxyUrl, type CountingProxy } from '../../helpers/proxy-server.js';

// `ota lock` through a real forward proxy on 127.0.0.1 that counts what it forwards: the
// environment's http_proxy for every archive, apt's Acquire::http::Proxy for `uri: host` ones,
// and an unreachable proxy makes the lock fail instead of going direct.

const app: FixturePackage = { name: 'app', version: '1.0-1' };

let tmp: string;
let key: GpgKey;
let server: FixtureServer;
let proxy: CountingProxy;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-lock-proxy-'));
  key = await makeGpgKey(tmp);
  const archive = await buildArchive(path.join(tmp, 'archive'), [{ suite: 'stable', arches: ['amd64'], components: { main: [app] } }], { key });
  server = await serveDirectory(archive.root);
  proxy = await startProxy();
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await server?.close();
  if (key) await disposeGpgKey(key);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function explicitWorkspace(name: string): Promise<Workspace> {
  const ws = await workspace(tmp, name);
  await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.keyring }], packages: ['app'] });
  return ws;
}

/** A workspace whose manifest says `uri: host`, with an apt configuration dir of its own: the fixture archive as its source, `aptConf` as apt.conf.d/50proxy. */
async function hostWorkspace(name: string, aptConf: string): Promise<Workspace & { etcApt: string }> {
  const ws = await workspace(tmp, name);
  const etcApt = path.join(ws.dir, 'etc/apt');
  await mkdir(path.join(etcApt, 'sources.list.d'), { recursive: true });
  await mkdir(path.join(etcApt, 'apt.conf.d'), { recursive: true });
  await writeFile(path.join(etcApt, 'sources.list.d/fixture.list'), `deb [signed-by=${key.keyring}] ${server.url} stable main\n`);
  await writeFile(path.join(etcApt, 'apt.conf.d/50proxy'), aptConf);
  await writeFile(ws.manifest, 'name: fixture-image\narch: amd64\nsources:\n  - uri: host\npackages: [app]\n');
  return { ...ws, etcApt };
}

const expectedRequests = () => [`${server.url}/dists/stable/InRelease`, `${server.url}/dists/stable/main/binary-amd64/Packages.xz`];

describe('ota lock through a proxy', () => {
  it('sends every request through http_proxy from the environment', async () => {
    const ws = await explicitWorkspace('env');
    const start = proxy.requests.length;
    const r = await lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: { ...mirrorEnv(server.url), http_proxy: proxy.url } });
    expect([...parseLockText(r.text).packages.keys()]).toEqual(['app']);
    expect(proxy.requests.slice(start)).toEqual(expectedRequests());
  });

  it('fails when the proxy cannot be reached, naming it, and never goes direct', async () => {
    const ws = await explicitWorkspace('unreachable');
    const dead = await unreachableProxyUrl();
    let err: Error | undefined;
    const direct = await requestsDuring(server, async () => {
      err = await otaRejection(lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: { ...mirrorEnv(server.url), HTTP_PROXY: dead } }));
    });
    expect(err).toMatchObject({ code: 'ERR_OTA_FETCH', message: expect.stringContaining(`through proxy ${dead}`) });
    expect(direct).toEqual([]);
    expect(await listDir(ws.dir)).toEqual(['image.yaml']);
  });

  it('`ota lock` with an unreachable http_proxy exits 1, saying which proxy, and writes nothing', async () => {
    const ws = await explicitWorkspace('cli');
    const dead = await unreachableProxyUrl();
    // The CLI reads the process's environment.
    const set = { ...mirrorEnv(server.url), http_proxy: dead, OTA_CACHE_DIR: ws.cacheDir };
    const saved = Object.fromEntries(Object.keys(set).map((k) => [k, process.env[k]]));
    Object.assign(process.env, set);
    let r: Awaited<ReturnType<typeof ota>>;
    try {
      r = await ota('lock', ws.manifest);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    expect(r.code).toBe(1);
    expect(r.err).toContain(`through proxy ${dead}`);
    expect(r.err).toMatch(/hint: check that the proxy .* is up/);
    expect(await listDir(ws.dir)).toEqual(['image.yaml']);
  });

  it("takes apt's Acquire::http::Proxy for `uri: host` sources, before the environment", async () => {
    const ws = await hostWorkspace('apt', `Acquire::http::Proxy "${proxy.url}";\n`);
    const start = proxy.requests.length;
    const dead = await unreachableProxyUrl();
    await lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: { http_proxy: dead }, etcApt: ws.etcApt });
    expect(proxy.requests.slice(start)).toEqual(expectedRequests());
  });

  it("goes direct for a host that apt's configuration marks DIRECT, whatever http_proxy says", async () => {
    const ws = await hostWorkspace('apt-direct', `Acquire::http { Proxy "${await unreachableProxyUrl()}"; Proxy::127.0.0.1 "DIRECT"; };\n`);
    const start = proxy.requests.length;
    const direct = await requestsDuring(server, () => lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: { http_proxy: proxy.url }, etcApt: ws.etcApt }));
    expect(direct).toEqual(['/dists/stable/InRelease', '/dists/stable/main/binary-amd64/Packages.xz']);
    expect(proxy.requests.length).toBe(start);
  });
});
