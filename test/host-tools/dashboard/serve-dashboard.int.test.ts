import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, generateSigningKey, signDocument } from '../../../contract/index.js';
import { COMMIT } from '../../helpers/fleet-devices.js';
import { startOtaServe, type OtaServe } from '../../helpers/ota-serve.js';
import { makeTestPki, type TestPki } from '../../helpers/tls-certs.js';

// `ota serve --dashboard` over HTTPS with a password file: the dashboard rides on the embedded
// broker and lists the published directory's releases. The published directory is its marker
// and one signed manifest, written by the test (no ostree repository is needed to list releases).
let dir: string;
let pki: TestPki;
let srv: OtaServe;
let dispatcher: Agent;
const PASSWORD = 'correct horse battery staple';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-serve-dashboard-'));
  pki = await makeTestPki();
  const published = join(dir, 'published');
  await mkdir(join(published, 'repo'), { recursive: true });
  await mkdir(join(published, 'releases', 'gateway', 'arm64'), { recursive: true });
  await writeFile(join(published, 'ota-published.json'), JSON.stringify({ format: 'deb-ota-published', formatVersion: 1 }));
  const manifest = { apiVersion: API_VERSION, kind: 'Release', ref: 'gateway/arm64', version: '2.0', commit: COMMIT(9), subject: null, board: null, arch: 'arm64', minVersion: null, group: null, publishedAt: '2026-03-02T10:00:00Z', deltas: [], fullPullBytes: 1000, unpackedBytes: 4096, packages: [], changes: { previousVersion: null, added: [], removed: [], changed: [] } };
  await writeFile(join(published, 'releases', 'gateway', 'arm64', '2.0.jws'), await signDocument('release', manifest, await generateSigningKey()));
  await writeFile(join(dir, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
  srv = await startOtaServe(published, ['--dashboard', '--dashboard-port', '0', '--password-file', join(dir, 'password'), '--cert', pki.serverCert, '--key', pki.serverKey]);
  dispatcher = new Agent({ connect: { ca: await readFile(pki.caCert) } });
}, 60_000);

afterAll(async () => {
  await srv?.stop();
  await dispatcher?.close();
  await rm(dir, { recursive: true, force: true });
  if (pki) await rm(pki.dir, { recursive: true, force: true });
});

describe('ota serve --dashboard (HTTPS, password file)', () => {
  it('serves HTTPS on loopback, logs in with the password file, and gives a Secure session cookie', async () => {
    expect(srv.dashboard).not.toBeNull();
    expect(srv.dashboard!.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(srv.dashboard!.loginUrl).toBeNull();
    const url = srv.dashboard!.url;
    const origin = { origin: url, 'content-type': 'application/x-www-form-urlencoded' };
    const wrong = await request(`${url}/login`, { method: 'POST', headers: origin, body: 'secret=nope', dispatcher });
    expect(wrong.statusCode).toBe(303);
    expect(wrong.headers.location).toBe('/login?failed=1');
    expect(wrong.headers['set-cookie']).toBeUndefined();
    await wrong.body.dump();
    const ok = await request(`${url}/login`, { method: 'POST', headers: origin, body: `secret=${encodeURIComponent(PASSWORD)}`, dispatcher });
    const cookie = String(ok.headers['set-cookie']);
    await ok.body.dump();
    expect(cookie).toMatch(/HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
    const releases = await request(`${url}/api/releases`, { headers: { cookie: cookie.split(';')[0]! }, dispatcher });
    const doc = (await releases.body.json()) as { releases: { source: string; manifest: { version: string } | null }[] };
    expect(doc.releases.map((r) => [r.source, r.manifest?.version])).toEqual([['releases/gateway/arm64/2.0.jws', '2.0']]);
  });
});
