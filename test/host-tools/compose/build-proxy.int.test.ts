import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../../host-tools/compose/build.js';
import { REAL_BASE, fixtureImage, type FixtureImage } from '../../helpers/build-harness.js';
import { removeTree } from '../../helpers/ostree-cli.js';
import { startProxy, type CountingProxy } from '../../helpers/proxy-server.js';

// `ota build` of a manifest whose only source is `uri: host`, with an apt configuration directory
// of its own: the host's Debian sources plus the fixture archive on 127.0.0.1, and apt.conf.d
// sending that host (only) through a real counting proxy. The lock's index fetches and the
// build's deb downloads from the fixture archive must both go through it, as apt's would.

let dir: string;
let fx: FixtureImage;
let proxy: CountingProxy;
let etcApt: string;
const nonce = randomBytes(8).toString('hex');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-build-proxy-'));
  fx = await fixtureImage(join(dir, 'fx'), 'amd64', [{ name: 'fx-hello', version: '1', arch: 'amd64', files: { '/usr/share/fx/nonce': `${nonce}\n` } }], 'fxproxy');
  proxy = await startProxy();
  etcApt = join(dir, 'etc/apt');
  await mkdir(join(etcApt, 'sources.list.d'), { recursive: true });
  await mkdir(join(etcApt, 'apt.conf.d'), { recursive: true });
  for (const f of await readdir('/etc/apt/sources.list.d')) {
    if (/\.(list|sources)$/.test(f)) await copyFile(join('/etc/apt/sources.list.d', f), join(etcApt, 'sources.list.d', f));
  }
  await copyFile('/etc/apt/sources.list', join(etcApt, 'sources.list')).catch(() => {});
  await writeFile(join(etcApt, 'sources.list.d/zz-fixture.list'), `deb [signed-by=${fx.key.keyring}] ${fx.server.url} fixture main\n`);
  await writeFile(join(etcApt, 'apt.conf.d/50proxy'), `Acquire::http::Proxy::127.0.0.1 "${proxy.url}";\n`);
  await writeFile(fx.manifest, ['name: fxproxy', 'arch: amd64', 'sources:', '  - uri: host', 'variant: none', `packages: [${[...REAL_BASE, 'fx-hello'].join(', ')}]`, ''].join('\n'));
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await fx?.server.close();
  if (dir) await removeTree(dir);
  await rm(dir, { recursive: true, force: true });
});

describe("ota build with apt's proxy for `uri: host` archives", () => {
  it('locks and downloads the debs of the archive apt proxies through that proxy', async () => {
    const r = await build({ inputs: [fx.manifest], repoPath: join(dir, 'repo'), cacheDir: fx.cacheDir, env: fx.env, etcApt });
    expect(r.images[0]!.ref).toBe('fxproxy/amd64');
    expect(proxy.requests).toContain(`${fx.server.url}/dists/fixture/InRelease`);
    expect(proxy.requests.filter((u) => u.endsWith('.deb'))).toEqual([expect.stringMatching(new RegExp(`^${fx.server.url}/pool/.*fx-hello_1_amd64\\.deb$`))]);
    // The host's own Debian archive has no proxy in that configuration: nothing else went through it.
    expect(proxy.requests.every((u) => u.startsWith(fx.server.url))).toBe(true);
  }, 300_000);
});
