import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repo, pull } from '../../../node-ostree/index.js';
import { ota } from '../../helpers/cli.js';
import { subscribeOnce } from '../../helpers/mosquitto.js';
import { startOtaServe, type OtaServe } from '../../helpers/ota-serve.js';
import { buildRepo, releaseKey } from '../publish/harness.js';

// The whole path of a release as an operator runs it: `ota publish` writes PUBLISHED, `ota serve`
// serves it, `ota announce` sends the group's manifest to the embedded broker, and a device
// that holds 1.0 pulls 2.0 over HTTP through the static delta publish made.

const REF = 'gw/arm64';
let dir: string;
let keyDir: string;
let published: string;
let srv: OtaServe;
const commits: Record<string, string> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-delta-pull-'));
  published = join(dir, 'published');
  keyDir = (await releaseKey(join(dir, 'keys'))).dir;
  const b = await buildRepo(dir);
  const base = [{ name: 'libc6', version: '2.36-9' }, { name: 'systemd', version: '252.30-1' }, { name: 'openssl', version: '3.0.15-1' }, { name: 'bash', version: '5.2.15-2' }];
  // 2.0 is a one-package security update: the delta carries one package, a full pull all four.
  for (const [version, pkgs] of [['1.0', base], ['2.0', base.map((p) => (p.name === 'openssl' ? { ...p, version: '3.0.16-1' } : p))]] as const) {
    await b.build(REF, [...pkgs], { bytes: 300_000 });
    const r = await ota('publish', '--repo', b.path, '--to', published, '--key', keyDir, '--ref', REF, '--version', version, '--group', 'lab', '--json');
    expect(r.code, r.err).toBe(0);
    commits[version] = (JSON.parse(r.out.join('\n')) as { commit: string }).commit;
  }
  srv = await startOtaServe(published, ['-v']);
});

afterAll(async () => {
  if (srv) expect((await srv.stop('SIGTERM')).code).toBe(0);
  await rm(dir, { recursive: true, force: true });
});

/** A device's repository that already holds 1.0, as after its previous update. */
async function deviceAt1(name: string): Promise<Repo> {
  const r = await Repo.create(join(dir, name), 'bare-user');
  await pull(r, srv.repoUrl, { refs: [commits['1.0']!], disableStaticDeltas: true });
  return r;
}

describe('a release served by ota serve', () => {
  it('is pulled through the static delta with fewer bytes than the full commit', async () => {
    const full = await Repo.create(join(dir, 'full'), 'bare-user');
    const fullPull = await pull(full, srv.repoUrl, { refs: [commits['2.0']!], disableStaticDeltas: true });
    full.close();
    const objects = await deviceAt1('objects');
    const objectPull = await pull(objects, srv.repoUrl, { refs: [commits['2.0']!], disableStaticDeltas: true });
    objects.close();
    const device = await deviceAt1('device');
    const deltaPull = await pull(device, srv.repoUrl, { refs: [commits['2.0']!] });
    expect(deltaPull.deltaPartsFetched).toBeGreaterThan(0);
    expect((await device.fsck(commits['2.0']!)).objects).toBeGreaterThan(4);
    device.close();
    console.log(`bytes pulled over ota serve: full commit ${fullPull.bytes}, object by object from 1.0 ${objectPull.bytes}, static delta from 1.0 ${deltaPull.bytes} (${(deltaPull.bytes / fullPull.bytes).toFixed(2)}x the full commit)`);
    expect(deltaPull.bytes).toBeLessThan(fullPull.bytes);
    // The server's -v log shows the delta went over HTTP, with the long cache lifetime's path class.
    expect(srv.log()).toMatch(/http: GET \/repo\/deltas\/\S+ 200/);
  });

  it('is announced from the published group file to the embedded broker, verified with the release key', async () => {
    const manifest = join(published, 'groups', 'lab', 'release.jws');
    const r = await ota('announce', '--broker', srv.mqttUrl!, '--group', 'lab', '--release', manifest, '--key', keyDir, '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out.join('\n'))).toMatchObject({ verified: true, version: '2.0', commit: commits['2.0'], protocol: '3.1.1' });
    const jws = (await readFile(manifest, 'utf8')).trim();
    expect(await subscribeOnce(srv.mqttUrl!, 'ota/groups/lab/release', { args: ['-V', 'mqttv311'] })).toEqual([jws]);
    const res = await fetch(`${srv.httpUrl}/groups/lab/release.jws`);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect((await res.text()).trim()).toBe(jws);
  });
});
