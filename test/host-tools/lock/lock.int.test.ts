import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { run } from '../../../common/exec.js';
import { lock } from '../../../host-tools/lock/lock.js';
import { otaRejection } from '../../helpers/errors.js';
import {
  buildArchive,
  disposeGpgKey,
  makeGpgKey,
  serveDirectory,
  type BuiltArchive,
  type FixturePackage,
  type FixtureServer,
  type GpgKey,
} from '../../helpers/fixture-archive.js';
import {
  expectMatchesDebs,
  listDir,
  MIRROR_VAR,
  mirrorEnv,
  parseLockText,
  requestsDuring,
  versions,
  workspace,
  writeManifest,
  type TestManifest,
  type Workspace,
} from '../../helpers/lock-harness.js';

// `ota lock` end to end, through the `lock()` API, against a real signed archive served on
// 127.0.0.1: what the lock holds, that it is reproducible, several suites and priorities, the index
// cache and --offline, and the index compressions an archive may publish.

const DATE = new Date('2024-03-01T12:00:00Z');

const app: FixturePackage = {
  name: 'app',
  version: '1.0-1',
  depends: 'libmid (>= 1.0), app-data',
  files: { '/usr/bin/app': '#!/bin/sh\necho app\n' },
};
const appData: FixturePackage = { name: 'app-data', version: '1.0-1', arch: 'all', multiArch: 'foreign', source: 'app', files: { '/usr/share/app/x': 'x\n' } };
const libmid: FixturePackage = { name: 'libmid', version: '1.0-1', depends: 'libbase', multiArch: 'same' };
const libbase: FixturePackage = { name: 'libbase', version: '1.0-1', multiArch: 'same', files: { '/usr/lib/libbase.so.1': 'ELF\n' } };
const zapp: FixturePackage = { name: 'zapp', version: '2.0-1', compression: 'zstd', depends: 'libbase', files: { '/usr/bin/zapp': '#!/bin/sh\necho z\n' } };
const unrelated: FixturePackage = { name: 'unrelated', version: '1.0-1' };
const web1: FixturePackage = { name: 'web', version: '1.0-1', depends: 'ssl (>= 3.0)' };
const web2: FixturePackage = { name: 'web', version: '1.0-2', depends: 'ssl (>= 3.0)' };
const ssl1: FixturePackage = { name: 'ssl', version: '3.0-1' };
const sslSec: FixturePackage = { name: 'ssl', version: '3.0-1+sec1' };
const plugin: FixturePackage = { name: 'app-plugin', version: '0.1-1', depends: 'app (>= 1.0)' };
const basic = [app, appData, libmid, libbase];
// a board's packages: a kernel whose initramfs tool is either initramfs-tools or any provider
const boardPkgs: FixturePackage[] = [
  { name: 'fx-linux', version: '6.1-1', depends: 'initramfs-tools | linux-initramfs-tool' },
  { name: 'initramfs-tools', version: '1' },
  { name: 'dracut', version: '059-4', provides: 'linux-initramfs-tool' },
  { name: 'ostree-boot', version: '2022.7-2' },
  { name: 'fx-uboot', version: '2023.01-1', arch: 'all' },
  // a board boots images that run systemd (only Recommended by Debian's dracut)
  { name: 'systemd', version: '252.38-1' },
];

let tmp: string;
let key: GpgKey;
let archive: BuiltArchive;
let server: FixtureServer;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-lock-'));
  key = await makeGpgKey(tmp);
  archive = await buildArchive(
    path.join(tmp, 'archive'),
    [
      { suite: 'stable', arches: ['amd64'], date: DATE, components: { main: [...basic, zapp, unrelated, web1, ssl1, ...boardPkgs], contrib: [plugin] } },
      { suite: 'stable-updates', arches: ['amd64'], date: DATE, components: { main: [web2] } },
      { suite: 'stable-security', arches: ['amd64'], date: DATE, components: { main: [sslSec] } },
      { suite: 'gzonly', arches: ['amd64'], date: DATE, indexCompression: ['gz'], components: { main: basic } },
      { suite: 'xzonly', arches: ['amd64'], date: DATE, indexCompression: ['xz'], components: { main: basic } },
      { suite: 'listed', arches: ['amd64'], date: DATE, listUncompressed: true, components: { main: basic } },
      { suite: 'listed-gz', arches: ['amd64'], date: DATE, listUncompressed: true, indexCompression: ['gz'], components: { main: basic } },
    ],
    { key },
  );
  server = await serveDirectory(archive.root);
}, 30_000);

afterAll(async () => {
  await server?.close();
  if (key) await disposeGpgKey(key);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function manifest(packages: string[], suites = ['stable']): TestManifest {
  return { sources: [{ suites, keyring: key.armored }], packages };
}

async function lockIn(ws: Workspace, extra: { update?: boolean; offline?: boolean; url?: string; cacheDir?: string } = {}) {
  return lock({
    manifestPath: ws.manifest,
    cacheDir: extra.cacheDir ?? ws.cacheDir,
    env: mirrorEnv(extra.url ?? server.url),
    update: extra.update,
    offline: extra.offline,
  });
}

describe('ota lock against a fixture archive', () => {
  it('locks the requested packages and their dependencies with the archive\'s real .deb hashes', async () => {
    const ws = await workspace(tmp, 'basic');
    await writeManifest(ws.manifest, manifest(['app', 'zapp']));
    const r = await lockIn(ws);
    expect(r.written).toBe(true);
    expect(r.lockPath).toBe(ws.lockPath);
    expect(r.downloadBytes).toBeGreaterThan(0);
    const text = await readFile(ws.lockPath, 'utf8');
    expect(text).toBe(r.text);

    const parsed = parseLockText(text);
    expect(versions(parsed)).toEqual({ app: '1.0-1', 'app-data': '1.0-1', libbase: '1.0-1', libmid: '1.0-1', zapp: '2.0-1' });
    expect([...parsed.packages.keys()]).toEqual(['app', 'app-data', 'libbase', 'libmid', 'zapp']); // sorted by name
    expect(r.packages).toBe(5);
    expectMatchesDebs(parsed, archive);
    for (const s of parsed.packages.values()) {
      expect([s.get('Origin-Uri'), s.get('Origin-Suite'), s.get('Origin-Component')]).toEqual([server.url, 'stable', 'main']);
    }
    expect(parsed.packages.get('app-data')!.get('Architecture')).toBe('all');
    expect(parsed.packages.get('app')!.get('Depends')).toBe('libmid (>= 1.0), app-data');
    expect(parsed.packages.get('libmid')!.get('Multi-Arch')).toBe('same');

    const h = parsed.header;
    expect(h.get('Lockfile-Version')).toBe('1');
    expect(h.get('Architecture')).toBe('amd64');
    expect(h.get('Requested')).toBe('app zapp');
    expect(h.get('Manifest-SHA256')).toBe(sha256(await readFile(ws.manifest)));
    const inRelease = await readFile(path.join(archive.root, 'dists/stable/InRelease'));
    expect(parsed.sources).toEqual([[`\${${MIRROR_VAR}}`, server.url, 'stable', 'main', '500', sha256(inRelease), '2024-03-01T12:00:00Z']]);
  });

  it('records the component each package came from', async () => {
    const ws = await workspace(tmp, 'components');
    await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], components: ['main', 'contrib'], keyring: key.armored }], packages: ['app-plugin'] });
    const parsed = parseLockText((await lockIn(ws)).text);
    expect(versions(parsed)).toEqual({ app: '1.0-1', 'app-data': '1.0-1', 'app-plugin': '0.1-1', libbase: '1.0-1', libmid: '1.0-1' });
    expect(parsed.packages.get('app-plugin')!.get('Origin-Component')).toBe('contrib');
    expect(parsed.packages.get('app-plugin')!.get('Filename')).toBe('pool/contrib/a/app-plugin/app-plugin_0.1-1_amd64.deb');
    expect(parsed.packages.get('app')!.get('Origin-Component')).toBe('main');
    expect(parsed.sources[0]![3]).toBe('main,contrib');
    expectMatchesDebs(parsed, archive);
  });

  it('records a zstd-compressed .deb like any other', async () => {
    const deb = archive.debs.get('zapp_2.0-1_amd64')!;
    const bytes = await readFile(deb.path);
    expect(bytes.includes('data.tar.zst')).toBe(true); // the fixture really built it with zstd
    const ws = await workspace(tmp, 'zstd');
    await writeManifest(ws.manifest, manifest(['zapp']));
    const zs = parseLockText((await lockIn(ws)).text).packages.get('zapp')!;
    expect([zs.get('Filename'), zs.get('Size'), zs.get('SHA256')]).toEqual([deb.filename, String(bytes.length), sha256(bytes)]);
    expect(deb.filename).toBe('pool/main/z/zapp/zapp_2.0-1_amd64.deb');
  });

  it('writes byte-identical lockfiles for the same inputs, with a fresh cache and with a warm one', async () => {
    const ws = await workspace(tmp, 'repro');
    await writeManifest(ws.manifest, manifest(['app', 'zapp']));
    const first = (await lockIn(ws, { cacheDir: path.join(ws.dir, 'cache-1') })).text;

    await rm(ws.lockPath);
    const fresh = await lockIn(ws, { cacheDir: path.join(ws.dir, 'cache-2') });
    expect(fresh.written).toBe(true);
    expect(await readFile(ws.lockPath, 'utf8')).toBe(first);

    await rm(ws.lockPath);
    const asked = await requestsDuring(server, () => lockIn(ws, { cacheDir: path.join(ws.dir, 'cache-2') }));
    expect(await readFile(ws.lockPath, 'utf8')).toBe(first);
    expect(asked).toEqual(['/dists/stable/InRelease']); // the warm run really used the cache
  });

  it('reads a keyring path relative to the manifest, and a file: archive uri', async () => {
    const ws = await workspace(tmp, 'relative');
    await mkdir(path.join(ws.dir, 'keys'));
    await copyFile(key.armored, path.join(ws.dir, 'keys', 'archive.asc'));
    await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: 'keys/archive.asc' }], packages: ['app'] });
    const viaHttp = parseLockText((await lockIn(ws)).text);
    expect(versions(viaHttp)).toEqual({ app: '1.0-1', 'app-data': '1.0-1', libbase: '1.0-1', libmid: '1.0-1' });

    await rm(ws.lockPath);
    const fileUri = pathToFileURL(archive.root).href;
    const asked = await requestsDuring(server, () => lockIn(ws, { url: fileUri, cacheDir: path.join(ws.dir, 'cache-file') }));
    expect(asked).toEqual([]);
    const viaFile = parseLockText(await readFile(ws.lockPath, 'utf8'));
    expect(versions(viaFile)).toEqual(versions(viaHttp));
    expectMatchesDebs(viaFile, archive);
    expect(viaFile.packages.get('app')!.get('Origin-Uri')).toBe(fileUri);
    expect(viaFile.sources[0]!.slice(0, 3)).toEqual([`\${${MIRROR_VAR}}`, fileUri, 'stable']);
  });

  it('takes the highest version across release, updates and security suites', async () => {
    const ws = await workspace(tmp, 'suites');
    await writeManifest(ws.manifest, {
      sources: [
        { suites: ['stable', 'stable-updates'], keyring: key.armored },
        { suites: ['stable-security'], keyring: key.keyring },
      ],
      packages: ['web'],
    });
    const parsed = parseLockText((await lockIn(ws)).text);
    expect(versions(parsed)).toEqual({ web: '1.0-2', ssl: '3.0-1+sec1' });
    expect(parsed.packages.get('web')!.get('Origin-Suite')).toBe('stable-updates');
    expect(parsed.packages.get('ssl')!.get('Origin-Suite')).toBe('stable-security');
    expectMatchesDebs(parsed, archive);
    expect(parsed.sources.map((s) => [s[2], s[4]])).toEqual([['stable', '500'], ['stable-updates', '500'], ['stable-security', '500']]);
  });

  it('lets a source priority make a lower version win', async () => {
    const ws = await workspace(tmp, 'priority');
    await writeManifest(ws.manifest, {
      sources: [
        { suites: ['stable'], keyring: key.armored, priority: 990 },
        { suites: ['stable-updates', 'stable-security'], keyring: key.armored },
      ],
      packages: ['web'],
    });
    const parsed = parseLockText((await lockIn(ws)).text);
    expect(versions(parsed)).toEqual({ web: '1.0-1', ssl: '3.0-1' });
    expect(parsed.packages.get('web')!.get('Origin-Suite')).toBe('stable');
    expect(parsed.packages.get('ssl')!.get('Origin-Suite')).toBe('stable');
    expect(parsed.sources.map((s) => [s[2], s[4]])).toEqual([['stable', '990'], ['stable-updates', '500'], ['stable-security', '500']]);
  });
});

describe('ota lock with a board', () => {
  const BOARD = (comment: string) => `# ${comment}
name: fxboard
arch: amd64
description: fixture board
kernel: { packages: [fx-linux], console: ttyS0 }
bootloader: { type: uboot, packages: [fx-uboot], env: { kind: text-file, partition: boot, path: ota.env }, device: { interface: mmc, boot: "0:1", root: "0:2" } }
disk: { table: gpt, partitions: [{ label: boot, fs: vfat, size: 64MiB, role: boot }, { label: root, fs: ext4, size: rest, role: root }] }
`;

  it("locks the board's kernel, initramfs tools and bootloader after the image's packages, and re-locks when board.yaml changes", async () => {
    const ws = await workspace(tmp, 'board');
    const boardsDir = path.join(ws.dir, 'boards');
    await mkdir(path.join(boardsDir, 'fxboard'), { recursive: true });
    await writeFile(path.join(boardsDir, 'fxboard/board.yaml'), BOARD('v1'));
    await writeManifest(ws.manifest, { ...manifest(['app', 'systemd']), extra: ['board: fxboard'] });
    const run = () => lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(server.url), boardsDir });
    const r = await run();
    const parsed = parseLockText(r.text);
    expect(parsed.header.get('Board')).toBe('fxboard');
    expect(parsed.header.get('Board-Packages')).toBe('fx-linux dracut ostree-boot fx-uboot');
    expect(parsed.header.get('Board-SHA256')).toBe(sha256(BOARD('v1')));
    expect(parsed.header.get('Requested')).toBe('app systemd');
    // the board's dracut meets the kernel's `initramfs-tools | linux-initramfs-tool`
    expect(Object.keys(versions(parsed)).sort()).toEqual(['app', 'app-data', 'dracut', 'fx-linux', 'fx-uboot', 'libbase', 'libmid', 'ostree-boot', 'systemd']);
    expect((await run()).written).toBe(false);
    await writeFile(path.join(boardsDir, 'fxboard/board.yaml'), BOARD('v2'));
    const again = await run();
    expect(again.written).toBe(true);
    expect(parseLockText(again.text).header.get('Board-SHA256')).toBe(sha256(BOARD('v2')));
  });

  it('refuses an image without systemd at lock time, with the reason, and writes no lock', async () => {
    const ws = await workspace(tmp, 'board-no-systemd');
    const boardsDir = path.join(ws.dir, 'boards');
    await mkdir(path.join(boardsDir, 'fxboard'), { recursive: true });
    await writeFile(path.join(boardsDir, 'fxboard/board.yaml'), BOARD('v1'));
    await writeManifest(ws.manifest, { ...manifest(['app']), extra: ['board: fxboard'] });
    const e = await otaRejection(lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(server.url), boardsDir }));
    expect(e.code).toBe('ERR_OTA_MANIFEST');
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(`${ws.manifest}: board fxboard boots the image with systemd (its initramfs is dracut's with OSTree's module, and OSTree's units run the deployment), but the image has no systemd: add systemd-sysv to packages`);
    expect(existsSync(ws.lockPath)).toBe(false);
  });
});

describe('index cache and --offline', () => {
  it('a second `lock --update` fetches only InRelease', async () => {
    const ws = await workspace(tmp, 'cache');
    await writeManifest(ws.manifest, manifest(['app']));
    const firstAsked = await requestsDuring(server, () => lockIn(ws));
    expect(firstAsked).toEqual(['/dists/stable/InRelease', '/dists/stable/main/binary-amd64/Packages.xz']);
    const before = await readFile(ws.lockPath, 'utf8');
    let r: Awaited<ReturnType<typeof lock>> | undefined;
    const asked = await requestsDuring(server, async () => (r = await lockIn(ws, { update: true })));
    expect(asked).toEqual(['/dists/stable/InRelease']);
    expect(r!.written).toBe(false);
    expect(r!.downloadBytes).toBe((await readFile(path.join(archive.root, 'dists/stable/InRelease'))).length);
    expect(await readFile(ws.lockPath, 'utf8')).toBe(before);
  });

  it('with an unchanged manifest and an existing lock, does nothing and fetches nothing', async () => {
    const ws = await workspace(tmp, 'noop');
    await writeManifest(ws.manifest, manifest(['app']));
    const text = (await lockIn(ws)).text;
    let r: Awaited<ReturnType<typeof lock>> | undefined;
    const asked = await requestsDuring(server, async () => (r = await lockIn(ws)));
    expect(asked).toEqual([]);
    expect(r!.written).toBe(false);
    expect(r!.downloadBytes).toBe(0);
    expect(await readFile(ws.lockPath, 'utf8')).toBe(text);
  });

  it('--offline locks from the cache with the server closed', async () => {
    const own = await serveDirectory(archive.root);
    const ws = await workspace(tmp, 'offline');
    await writeManifest(ws.manifest, manifest(['app', 'zapp']));
    const online = await lockIn(ws, { url: own.url });
    await own.close();
    await rm(ws.lockPath);
    const offline = await lockIn(ws, { url: own.url, offline: true });
    expect(offline.written).toBe(true);
    expect(offline.downloadBytes).toBe(0);
    expect(await readFile(ws.lockPath, 'utf8')).toBe(online.text);
  });

  it('checks a cached index against its InRelease hash on every read: a changed one is fetched again, or refused offline', async () => {
    const ws = await workspace(tmp, 'tampered-cache');
    await writeManifest(ws.manifest, manifest(['app']));
    const good = (await lockIn(ws)).text;
    const indices = path.join(ws.cacheDir, 'indices');
    const cachedText = async () => path.join(indices, (await readdir(indices)).find((n) => !n.endsWith('.idx.json'))!);
    // The fixture's Release lists only the compressed hash, so the entry may be kept as .xz: edit its text either way.
    const tamper = async (edit: (t: string) => string) => {
      const file = await cachedText();
      const raw = await readFile(file);
      const xz = raw.subarray(0, 6).equals(Buffer.from('\xfd7zXZ\x00', 'latin1'));
      const before = xz ? (await run('unxz', ['xz', '-dc', file])).stdout : raw.toString('utf8');
      const after = edit(before);
      expect(after).not.toBe(before);
      await writeFile(file, xz ? (await run('xz', ['xz', '-c'], { input: after, binary: true })).stdout : after);
    };
    // One hex digit of a package's SHA256 line, as the reproduction changes it.
    const flipDigit = (t: string) => t.replace(/^(SHA256: )([0-9a-f])/m, (_, k: string, d: string) => k + (d === '0' ? '1' : '0'));
    await tamper(flipDigit);
    await rm(ws.lockPath);
    const asked = await requestsDuring(server, async () => expect((await lockIn(ws)).text).toBe(good));
    expect(asked).toEqual(['/dists/stable/InRelease', '/dists/stable/main/binary-amd64/Packages.xz']);

    await tamper((t) => t.replace(/^Depends: .*$/m, 'Depends: zapp'));
    await rm(ws.lockPath);
    const err = await lockIn(ws, { offline: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OtaError);
    expect(err).toMatchObject({ code: 'ERR_OTA_HASH', message: expect.stringMatching(/the cached .*\/main\/binary-amd64\/Packages \(.*\) has SHA256 [0-9a-f]{64}, not the [0-9a-f]{64} that .*InRelease lists; removed it, and --offline forbids/) });
    expect(await listDir(ws.dir)).toEqual(['cache', 'image.yaml']);
    expect(await lockIn(ws)).toMatchObject({ text: good });
  });

  it('--offline with an empty cache fails, saying so, and writes nothing', async () => {
    const ws = await workspace(tmp, 'offline-empty');
    await writeManifest(ws.manifest, manifest(['app']));
    let err: unknown;
    const asked = await requestsDuring(server, () => lockIn(ws, { offline: true }).catch((e: unknown) => (err = e)));
    expect(err).toBeInstanceOf(OtaError);
    expect(err).toMatchObject({ code: 'ERR_OTA_FETCH', message: expect.stringMatching(/no cached index for .* stable, and --offline forbids fetching it/) });
    expect((err as OtaError).hint).toMatch(/without --offline/);
    expect(asked).toEqual([]);
    expect(await listDir(ws.dir)).toEqual(['image.yaml']);
  });
});

describe('index compressions', () => {
  it.each([
    ['xz and gz (xz is used)', 'stable', 'Packages.xz'],
    ['xz only', 'xzonly', 'Packages.xz'],
    ['gz only', 'gzonly', 'Packages.gz'],
    ['xz and gz, Release listing the uncompressed hash', 'listed', 'Packages.xz'],
  ])('locks from an archive publishing %s', async (_, suite, fetched) => {
    const ws = await workspace(tmp, `compress-${suite}`);
    await writeManifest(ws.manifest, manifest(['app'], [suite]));
    let text = '';
    const asked = await requestsDuring(server, async () => (text = (await lockIn(ws)).text));
    expect(asked).toEqual([`/dists/${suite}/InRelease`, `/dists/${suite}/main/binary-amd64/${fetched}`]);
    const parsed = parseLockText(text);
    expect(versions(parsed)).toEqual({ app: '1.0-1', 'app-data': '1.0-1', libbase: '1.0-1', libmid: '1.0-1' });
    expectMatchesDebs(parsed, archive);
    expect(parsed.packages.get('app')!.get('Origin-Suite')).toBe(suite);
  });

  it('shares one cache entry between .xz and .gz indices whose Release lists the same uncompressed hash', async () => {
    // `listed` (xz+gz) and `listed-gz` (gz only) publish the same Packages text and list its
    // uncompressed hash, so the index fetched for one is the cached index of the other.
    const ws = await workspace(tmp, 'listed-cache');
    await writeManifest(ws.manifest, manifest(['app'], ['listed']));
    await lockIn(ws);
    await writeManifest(ws.manifest, manifest(['app'], ['listed-gz']));
    let text = '';
    const asked = await requestsDuring(server, async () => (text = (await lockIn(ws, { update: true })).text));
    expect(asked).toEqual(['/dists/listed-gz/InRelease']);
    expect(parseLockText(text).packages.get('app')!.get('Origin-Suite')).toBe('listed-gz');
  });
});
