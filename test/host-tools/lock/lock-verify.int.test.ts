import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { run } from '../../../common/exec.js';
import { lock } from '../../../host-tools/lock/lock.js';
import {
  buildArchive,
  disposeGpgKey,
  makeGpgKey,
  serveDirectory,
  type FixturePackage,
  type FixtureServer,
  type FixtureSuite,
  type GpgKey,
} from '../../helpers/fixture-archive.js';
import { expectMatchesDebs, listDir, mirrorEnv, parseLockText, requestsDuring, workspace, writeManifest, type Workspace } from '../../helpers/lock-harness.js';

// What `ota lock` trusts: InRelease (or Release + Release.gpg) must verify against the source's
// keyring and be current, and every Packages index must match the hash it lists. Each refusal is
// an OtaError with its own code, and nothing is written: no new lockfile, an existing one unchanged.

const app: FixturePackage = { name: 'app', version: '1.0-1', depends: 'libbase' };
const libbase: FixturePackage = { name: 'libbase', version: '1.0-1' };
const PACKAGES_XZ = 'dists/stable/main/binary-amd64/Packages.xz';

function suite(more: Partial<FixtureSuite> = {}): FixtureSuite[] {
  return [{ suite: 'stable', arches: ['amd64'], date: new Date('2024-03-01T12:00:00Z'), components: { main: [app, libbase] }, ...more }];
}

let tmp: string;
let key: GpgKey;
let otherKey: GpgKey;
let archives: string;
let server: FixtureServer;
/** A good lock of `app` from the `good` archive, to show a failed run leaves an existing lock alone. */
let goodLock: string;

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const gpgEnv = (k: GpgKey) => ({ ...process.env, GNUPGHOME: k.home, LC_ALL: 'C' });

async function clearsign(k: GpgKey, release: string, out: string): Promise<void> {
  await run('re-sign Release', [
    'gpg', '--batch', '--no-tty', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '',
    '--local-user', k.fingerprint, '--clearsign', '--output', out, release,
  ], { env: gpgEnv(k) });
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-verify-'));
  [key, otherKey] = await Promise.all([makeGpgKey(tmp), makeGpgKey(tmp, 'Somebody Else')]);
  archives = path.join(tmp, 'archives');
  const at = (name: string) => path.join(archives, name);
  await Promise.all([
    buildArchive(at('good'), suite(), { key }),
    buildArchive(at('unsigned'), suite(), { signing: 'none' }),
    buildArchive(at('plain-inrelease'), suite(), { signing: 'none' }),
    buildArchive(at('other-key'), suite(), { key: otherKey }),
    buildArchive(at('tampered'), suite(), { key }),
    buildArchive(at('expired'), suite({ date: new Date('2020-01-01T00:00:00Z'), validUntil: new Date('2020-01-08T00:00:00Z') }), { key }),
    buildArchive(at('valid'), suite({ validUntil: new Date(Date.now() + 7 * 86_400_000) }), { key }),
    buildArchive(at('release-gpg'), suite(), { key, signing: 'release-gpg' }),
    buildArchive(at('bad-hash'), suite(), { key }),
    buildArchive(at('stale-xz'), suite(), { key }),
    buildArchive(at('bad-plain-hash'), suite({ listUncompressed: true }), { key }),
    buildArchive(at('switching'), suite(), { key, signing: 'both' }),
    buildArchive(at('xz-missing'), suite(), { key }),
  ]);

  // `switching` publishes Release + Release.gpg first; its InRelease appears later (see the test).
  await rename(path.join(at('switching'), 'dists/stable/InRelease'), path.join(at('switching'), 'InRelease.later'));
  // `xz-missing` lists Packages.xz in InRelease but the mirror does not have it.
  await rm(path.join(at('xz-missing'), PACKAGES_XZ));

  // An InRelease that is just the Release text, with no signature around it.
  await copyFile(path.join(at('plain-inrelease'), 'dists/stable/Release'), path.join(at('plain-inrelease'), 'dists/stable/InRelease'));

  // Edit the signed text after signing: another Packages.xz hash, as an attacker would.
  const tampered = path.join(at('tampered'), 'dists/stable/InRelease');
  const text = await readFile(tampered, 'utf8');
  const edited = text.replace(/ ([0-9a-f]{64}) (\s*\d+ main\/binary-amd64\/Packages\.xz)/, (_, _h: string, rest: string) => ` ${'0'.repeat(64)} ${rest}`);
  expect(edited).not.toBe(text);
  await writeFile(tampered, edited);

  // Replace Packages.xz and Packages.gz after signing with other valid files (one package more).
  // In `stale-xz` only the .xz is replaced: a mirror mid-sync, where the .gz still verifies.
  for (const name of ['bad-hash', 'stale-xz']) {
    const badHash = path.join(at(name), PACKAGES_XZ);
    const plain = (await run('unxz', ['xz', '-dc', badHash], { binary: true })).stdout.toString('utf8');
    const more = `${plain}Package: evil\nVersion: 6.6.6\nArchitecture: amd64\nFilename: pool/main/e/evil/evil_6.6.6_amd64.deb\nSize: 1\nSHA256: ${'1'.repeat(64)}\n\n`;
    await writeFile(badHash, (await run('xz', ['xz', '-c'], { input: more, binary: true })).stdout);
    if (name === 'bad-hash') await writeFile(badHash.replace(/\.xz$/, '.gz'), gzipSync(more));
  }

  // A Release whose compressed files are right but whose uncompressed Packages entry is not, signed properly.
  const bp = path.join(at('bad-plain-hash'), 'dists/stable');
  const release = await readFile(path.join(bp, 'Release'), 'utf8');
  const wrongPlain = release.replace(/ [0-9a-f]{64}( +\d+ main\/binary-amd64\/Packages)\n/, ` ${sha256('something else')}$1\n`);
  expect(wrongPlain).not.toBe(release);
  await writeFile(path.join(bp, 'Release'), wrongPlain);
  await clearsign(key, path.join(bp, 'Release'), path.join(bp, 'InRelease'));

  server = await serveDirectory(archives);

  const ws = await workspace(tmp, 'good');
  await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.keyring }], packages: ['app'] });
  goodLock = (await lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(`${server.url}/good`) })).text;
}, 30_000);

afterAll(async () => {
  await server?.close();
  if (key) await disposeGpgKey(key);
  if (otherKey) await disposeGpgKey(otherKey);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function newWorkspace(name: string, keyring = key.keyring): Promise<Workspace> {
  const ws = await workspace(tmp, name);
  await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring }], packages: ['app'] });
  return ws;
}

function lockFrom(ws: Workspace, archive: string, update = false) {
  return lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(`${server.url}/${archive}`), update });
}

/**
 * Locks `archive` twice, expecting the same refusal both times: once with no lockfile (none may be
 * created) and once, with --update, over an existing good lock (which must stay byte-identical).
 */
async function expectRefused(archive: string, code: string, message: RegExp): Promise<OtaError> {
  const ws = await newWorkspace(archive);
  const err = await lockFrom(ws, archive).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(OtaError);
  expect(err).toMatchObject({ code, message: expect.stringMatching(message) });
  // Metadata that failed verification is not cached either (a hash failure comes after a good InRelease, which is).
  expect(await listDir(ws.dir)).toEqual(code === 'ERR_OTA_SIGNATURE' ? ['image.yaml'] : ['cache', 'image.yaml']);

  await writeFile(ws.lockPath, goodLock);
  const again = await lockFrom(ws, archive, true).catch((e: unknown) => e);
  expect(again).toMatchObject({ code, message: expect.stringMatching(message) });
  expect(await readFile(ws.lockPath, 'utf8')).toBe(goodLock);
  expect((await listDir(ws.dir)).filter((n) => n !== 'cache')).toEqual(['image.lock', 'image.yaml']);
  return err as OtaError;
}

describe('signatures', () => {
  it('refuses an archive with no InRelease and no Release.gpg', async () => {
    await expectRefused('unsigned', 'ERR_OTA_SIGNATURE', /dists\/stable\/Release is not signed \(no InRelease, no Release\.gpg\)/);
  });

  it('refuses an InRelease that is not a signed message', async () => {
    await expectRefused('plain-inrelease', 'ERR_OTA_SIGNATURE', /dists\/stable\/InRelease is not signed/);
  });

  it('refuses an archive signed by a key outside the source\'s keyring', async () => {
    const err = await expectRefused('other-key', 'ERR_OTA_SIGNATURE', /InRelease: signed by key [0-9A-F]+, which is not in the keyring/);
    expect(err.message).toContain(otherKey.fingerprint.slice(-16));
    expect(err.hint).toMatch(/keyring/);
  });

  it('refuses an InRelease whose signed text was edited after signing', async () => {
    await expectRefused('tampered', 'ERR_OTA_SIGNATURE', /InRelease: bad signature .*changed after signing/);
  });

  it('refuses an InRelease past its Valid-Until', async () => {
    await expectRefused('expired', 'ERR_OTA_SIGNATURE', /InRelease expired on 2020-01-08T00:00:00\.000Z \(Valid-Until\)/);
  });

  it('accepts an InRelease whose Valid-Until is in the future', async () => {
    const ws = await newWorkspace('valid');
    const r = await lockFrom(ws, 'valid');
    expect(Object.keys(Object.fromEntries(parseLockText(r.text).packages))).toEqual(['app', 'libbase']);
  });

  it('verifies Release against a detached Release.gpg, online and from the cache', async () => {
    const ws = await newWorkspace('release-gpg', key.armored);
    let text = '';
    const asked = await requestsDuring(server, async () => (text = (await lockFrom(ws, 'release-gpg')).text));
    expect(asked).toEqual([
      '/release-gpg/dists/stable/InRelease', // 404
      '/release-gpg/dists/stable/Release',
      '/release-gpg/dists/stable/Release.gpg',
      '/release-gpg/dists/stable/main/binary-amd64/Packages.xz',
    ]);
    const parsed = parseLockText(text);
    expect([...parsed.packages.keys()]).toEqual(['app', 'libbase']);
    const release = await readFile(path.join(archives, 'release-gpg/dists/stable/Release'));
    expect(parsed.sources[0]![5]).toBe(sha256(release));

    await rm(ws.lockPath);
    const offline = await lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(`${server.url}/release-gpg`), offline: true });
    expect(offline.text).toBe(text);
  });

  it('--offline still verifies after the mirror moved from Release.gpg to InRelease', async () => {
    const ws = await newWorkspace('switching');
    const first = await lockFrom(ws, 'switching');
    expect(first.text).toContain(sha256(await readFile(path.join(archives, 'switching/dists/stable/Release'))));
    await rename(path.join(archives, 'switching/InRelease.later'), path.join(archives, 'switching/dists/stable/InRelease'));
    const second = await lockFrom(ws, 'switching', true);
    const inRelease = await readFile(path.join(archives, 'switching/dists/stable/InRelease'));
    expect(parseLockText(second.text).sources[0]![5]).toBe(sha256(inRelease));

    await rm(ws.lockPath);
    const offline = await lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(`${server.url}/switching`), offline: true });
    expect(offline.text).toBe(second.text);
  });

  it('--offline verifies the cached InRelease again, with the keyring the manifest names now', async () => {
    const ws = await newWorkspace('offline-rekey');
    await lockFrom(ws, 'good');
    await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: otherKey.armored }], packages: ['app'] });
    await expect(lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(`${server.url}/good`), offline: true })).rejects.toMatchObject({
      code: 'ERR_OTA_SIGNATURE',
      message: expect.stringMatching(/InRelease: signed by key [0-9A-F]+, which is not in the keyring/),
    });
  });

  it('a Release.gpg by another key is refused', async () => {
    const ws = await newWorkspace('release-gpg-other', otherKey.keyring);
    await expect(lockFrom(ws, 'release-gpg')).rejects.toMatchObject({
      code: 'ERR_OTA_SIGNATURE',
      message: expect.stringMatching(/dists\/stable\/Release: signed by key .* not in the keyring/),
    });
    expect((await listDir(ws.dir)).filter((n) => n !== 'cache')).toEqual(['image.yaml']);
  });
});

describe('index hashes', () => {
  it('refuses a Packages.xz that does not match InRelease, naming it', async () => {
    const err = await expectRefused('bad-hash', 'ERR_OTA_HASH', /\/bad-hash\/dists\/stable\/main\/binary-amd64\/Packages\.xz does not match InRelease/);
    expect(err.message).toMatch(/expected [0-9a-f]{64}/);
  });

  it('refuses an index whose decompressed text does not match the uncompressed hash InRelease lists', async () => {
    await expectRefused('bad-plain-hash', 'ERR_OTA_HASH', /Packages\.xz decompresses to content whose SHA256 differs from InRelease's entry for main\/binary-amd64\/Packages/);
  });

  it('uses Packages.gz when the listed Packages.xz does not match (a mirror mid-sync), with a warning', async () => {
    const ws = await newWorkspace('stale-xz');
    const warnings: string[] = [];
    const r = await lock({
      manifestPath: ws.manifest,
      cacheDir: ws.cacheDir,
      env: mirrorEnv(`${server.url}/stale-xz`),
      onEvent: (e) => void (e.level === 'warning' && warnings.push(e.message)),
    });
    expect(r.text).not.toContain('Package: evil');
    expect(warnings.join('\n')).toMatch(/Packages\.xz does not match InRelease.*; used .*Packages\.gz instead/);
  });

  it('falls back to Packages.gz when the listed Packages.xz is missing on the mirror', async () => {
    const ws = await newWorkspace('xz-missing');
    let text = '';
    const asked = await requestsDuring(server, async () => (text = (await lockFrom(ws, 'xz-missing')).text));
    expect(asked).toEqual([
      '/xz-missing/dists/stable/InRelease',
      '/xz-missing/dists/stable/main/binary-amd64/Packages.xz', // 404
      '/xz-missing/dists/stable/main/binary-amd64/Packages.gz',
    ]);
    expect([...parseLockText(text).packages.keys()]).toEqual(['app', 'libbase']);
  });

  it('the good archive next to them locks fine (the refusals are not the fixture\'s fault)', async () => {
    const parsed = parseLockText(goodLock);
    expect([...parsed.packages.keys()]).toEqual(['app', 'libbase']);
    expect(parsed.packages.get('app')!.get('Origin-Uri')).toBe(`${server.url}/good`);
    // Every archive here was built from the same descriptions, so they share the good one's debs.
    const good = await buildArchive(path.join(tmp, 'rebuilt'), suite(), { key });
    expectMatchesDebs(parsed, good);
  });
});
