import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile, mkdir, readdir } from 'node:fs/promises';
import { copyFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';
import { OtaError } from '../../../common/errors.js';
import { Repo, listTree, catFile } from '../../../node-ostree/index.js';
import { ensureDebs } from '../../../host-tools/compose/debs.js';
import { debControlRef, debDataRef, type LockedDeb } from '../../../host-tools/compose/plan-debs.js';
import { envProxyPolicy } from '../../../common/proxy.js';
import { startProxy } from '../../helpers/proxy-server.js';
import { buildArchive, makeGpgKey, serveDirectory, type BuiltArchive, type FixturePackage, type FixtureServer } from '../../helpers/fixture-archive.js';

let dir: string;
let archive: BuiltArchive;
let server: FixtureServer;

const PACKAGES: FixturePackage[] = [
  { name: 'hello', version: '2.10-3', arch: 'amd64', files: { '/usr/bin/hello': '#!/bin/sh\necho hello\n', '/usr/share/doc/hello/README': 'hi\n' }, scripts: { postinst: '#!/bin/sh\nexit 0\n' } },
  { name: 'libzst1', version: '1.0-1', arch: 'amd64', compression: 'zstd', files: { '/usr/lib/libzst.so.1': 'elf?\n' } },
  { name: 'big', version: '1:1.0~rc1-1', arch: 'all', files: { '/usr/share/big/blob': randomBytes(300_000) } },
  { name: 'conf', version: '3', arch: 'all', files: { '/etc/conf.d/x': 'setting=1\n' }, conffiles: ['/etc/conf.d/x'] },
];

function locked(names?: string[]): LockedDeb[] {
  return [...archive.debs.entries()]
    .filter(([key]) => !names || names.some((n) => key.startsWith(`${n}_`)))
    .map(([key, d]) => {
      const [name, version, architecture] = key.split('_') as [string, string, string];
      return { name, version, architecture, filename: d.filename, size: d.size, sha256: d.sha256, originUri: server.url };
    });
}

async function fresh(): Promise<{ repo: Repo; cacheDir: string }> {
  const d = await mkdtemp(join(dir, 'ws-'));
  return { repo: await Repo.create(join(d, 'repo'), 'bare-user'), cacheDir: join(d, 'cache') };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-debs-'));
  const key = await makeGpgKey(dir);
  archive = await buildArchive(join(dir, 'archive'), [{ suite: 'stable', arches: ['amd64'], components: { main: PACKAGES } }], { key });
  server = await serveDirectory(join(dir, 'archive'));
});
afterAll(() => server?.close());

describe('ensureDebs', () => {
  it('downloads and imports each deb as data and control commits keyed by SHA256', async () => {
    const { repo, cacheDir } = await fresh();
    const r = await ensureDebs(repo, locked(), { cacheDir, jobs: 2 });
    expect(r).toMatchObject({ reused: 0, imported: 4, downloaded: 4 });
    for (const d of locked()) {
      expect(repo.resolve(debDataRef(d.sha256))).toMatch(/^[0-9a-f]{64}$/);
      // the data commit holds exactly what dpkg-deb lists
      const files = listTree(repo, debDataRef(d.sha256)).filter((e) => e.type === 'file').map((e) => e.path);
      const dpkg = (await run('dpkg-deb -c', ['dpkg-deb', '-c', join(dir, 'archive', d.filename)])).stdout
        .split('\n')
        .filter((l) => l.startsWith('-') || l.startsWith('l'))
        .map((l) => l.split(/\s+/)[5]!.replace(/^\./, ''));
      expect(files.sort()).toEqual(dpkg.sort());
      expect((await catFile(repo, debControlRef(d.sha256), '/control')).toString()).toContain(`Package: ${d.name}`);
    }
    const hello = locked(['hello'])[0]!;
    expect((await catFile(repo, debControlRef(hello.sha256), '/postinst')).toString()).toContain('exit 0');
    expect(await readdir(join(cacheDir, 'debs'))).toHaveLength(4);
    repo.close();
  });

  it('downloads through the proxy it is given (a real counting proxy on 127.0.0.1)', async () => {
    const proxy = await startProxy();
    try {
      const { repo, cacheDir } = await fresh();
      const debs = locked(['hello', 'conf']);
      const r = await ensureDebs(repo, debs, { cacheDir, proxy: envProxyPolicy({ http_proxy: proxy.url }) });
      expect(r).toMatchObject({ imported: 2, downloaded: 2 });
      expect(proxy.requests.sort()).toEqual(debs.map((d) => `${server.url}/${d.filename}`).sort());
      repo.close();
    } finally {
      await proxy.close();
    }
  });

  it('does nothing the second time: no download, no import', async () => {
    const { repo, cacheDir } = await fresh();
    await ensureDebs(repo, locked(), { cacheDir });
    const before = server.requests.length;
    const r = await ensureDebs(repo, locked(), { cacheDir });
    expect(r).toEqual({ reused: 4, imported: 0, downloaded: 0, downloadBytes: 0, downloadedSha256: [] });
    expect(server.requests.length).toBe(before);
    repo.close();
  });

  it('imports from the download cache into a new repository without fetching', async () => {
    const first = await fresh();
    await ensureDebs(first.repo, locked(), { cacheDir: first.cacheDir });
    const repo = await Repo.create(join(dir, `other-${Date.now()}`), 'bare-user');
    const before = server.requests.length;
    const r = await ensureDebs(repo, locked(), { cacheDir: first.cacheDir });
    expect(r).toMatchObject({ imported: 4, downloaded: 0 });
    expect(server.requests.length).toBe(before);
    repo.close();
    first.repo.close();
  });

  it('fetches and imports only the package that was added', async () => {
    const { repo, cacheDir } = await fresh();
    await ensureDebs(repo, locked(['hello', 'conf']), { cacheDir });
    const r = await ensureDebs(repo, locked(), { cacheDir });
    expect(r).toMatchObject({ reused: 2, imported: 2, downloaded: 2 });
    repo.close();
  });

  it('counts a deb another build landed in the shared cache after planning as found there, not fetched', async () => {
    const { repo, cacheDir } = await fresh();
    const debs = locked();
    const before = server.requests.length;
    // The other build is played by the first event, which ensureDebs emits once it has planned: all four debs to download.
    let landed = false;
    const onEvent = (e: { message: string }) => {
      if (landed) return;
      landed = true;
      expect(e.message).toContain('4 to download');
      for (const d of debs) copyFileSync(join(dir, 'archive', d.filename), join(cacheDir, 'debs', `${d.sha256}.deb`));
    };
    const r = await ensureDebs(repo, debs, { cacheDir, onEvent });
    expect(r).toEqual({ reused: 0, imported: 4, downloaded: 0, downloadBytes: 0, downloadedSha256: [] });
    expect(server.requests.length).toBe(before);
    repo.close();
  });

  it('two concurrent runs on one empty cache count each download once, in the run that made it', async () => {
    const a = await fresh();
    const b = await fresh();
    const cacheDir = join(dir, `shared-${randomBytes(4).toString('hex')}`);
    const debs = locked();
    const before = server.requests.length;
    const [ra, rb] = await Promise.all([ensureDebs(a.repo, debs, { cacheDir, jobs: 2 }), ensureDebs(b.repo, debs, { cacheDir, jobs: 2 })]);
    const gets = server.requests.slice(before).filter((p) => p.endsWith('.deb'));
    expect([ra.imported, rb.imported]).toEqual([4, 4]);
    // Every GET here was one whole download that landed: together the runs count exactly those.
    expect(ra.downloaded + rb.downloaded).toBe(gets.length);
    const size = (sha: string) => debs.find((d) => d.sha256 === sha)!.size;
    expect(ra.downloadBytes).toBe(ra.downloadedSha256.map(size).reduce((x, y) => x + y, 0));
    expect(rb.downloadBytes).toBe(rb.downloadedSha256.map(size).reduce((x, y) => x + y, 0));
    expect(new Set([...ra.downloadedSha256, ...rb.downloadedSha256])).toEqual(new Set(debs.map((d) => d.sha256)));
    a.repo.close();
    b.repo.close();
  });

  it('resumes a partial download with a Range request', async () => {
    const { repo, cacheDir } = await fresh();
    const big = locked(['big'])[0]!;
    const bytes = await readFile(join(dir, 'archive', big.filename));
    await mkdir(join(cacheDir, 'debs'), { recursive: true });
    await writeFile(join(cacheDir, 'debs', `${big.sha256}.deb.partial`), bytes.subarray(0, 100_000));
    const r = await ensureDebs(repo, [big], { cacheDir });
    expect(r.downloadBytes).toBe(big.size - 100_000);
    expect(server.ranges).toContainEqual({ path: `/${big.filename}`, start: 100_000 });
    expect(repo.resolve(debDataRef(big.sha256))).toBeTruthy();
    repo.close();
  });

  it('retries transient failures and uses fallback URIs when the origin lacks a file', async () => {
    const { repo, cacheDir } = await fresh();
    const hello = locked(['hello'])[0]!;
    server.fail(hello.filename, 503, 2);
    const withMissingOrigin = { ...locked(['conf'])[0]!, originUri: `${server.url}/gone` };
    const r = await ensureDebs(repo, [hello, withMissingOrigin], { cacheDir, fallbackUris: [server.url] });
    expect(r.imported).toBe(2);
    repo.close();
  });

  it('refuses a deb whose SHA256 does not match the lock, naming it, and keeps nothing of it', async () => {
    const { repo, cacheDir } = await fresh();
    const bad = { ...locked(['conf'])[0]!, sha256: '0'.repeat(64) };
    const err = (await ensureDebs(repo, [bad], { cacheDir }).catch((e: unknown) => e)) as OtaError;
    expect(err).toBeInstanceOf(OtaError);
    expect(err.code).toBe('ERR_OTA_HASH');
    expect(err.message).toContain(bad.filename);
    expect(err.message).toContain('conf 3');
    expect(repo.resolve(debDataRef(bad.sha256), { allowMissing: true })).toBeUndefined();
    expect(existsSync(join(cacheDir, 'debs', `${bad.sha256}.deb`))).toBe(false);
    expect(existsSync(join(cacheDir, 'debs', `${bad.sha256}.deb.partial`))).toBe(false);
    repo.close();
  });

  it('fetches a cached deb again when its bytes no longer match its name, instead of failing the build', async () => {
    const first = await fresh();
    const hello = locked(['hello'])[0]!;
    await ensureDebs(first.repo, [hello], { cacheDir: first.cacheDir });
    first.repo.close();
    const cached = join(first.cacheDir, 'debs', `${hello.sha256}.deb`);
    const damaged = await readFile(cached);
    damaged[damaged.length - 10] = damaged[damaged.length - 10]! ^ 0xff;
    await writeFile(cached, damaged);
    const { repo } = await fresh();
    const r = await ensureDebs(repo, [hello], { cacheDir: first.cacheDir });
    expect(r).toMatchObject({ imported: 1, downloaded: 1, downloadBytes: hello.size });
    expect(createHash('sha256').update(await readFile(cached)).digest('hex')).toBe(hello.sha256);
    expect(repo.resolve(debDataRef(hello.sha256))).toMatch(/^[0-9a-f]{64}$/);
    repo.close();
  });

  it('keeps the debs it imported before one that fails, so that a rerun imports only the rest', async () => {
    const { repo, cacheDir } = await fresh();
    const good = locked();
    // Sorted last (debs are taken by name), so that every good one is imported before it fails.
    const gone = { ...good[0]!, name: 'zz-gone', originUri: `${server.url}/gone`, sha256: 'f'.repeat(64) };
    await expect(ensureDebs(repo, [...good, gone], { cacheDir, jobs: 1 })).rejects.toThrow(/zz-gone .*is on none of its sources/);
    for (const d of good) expect(repo.resolve(debControlRef(d.sha256), { allowMissing: true }), d.name).toMatch(/^[0-9a-f]{64}$/);
    expect(await ensureDebs(repo, good, { cacheDir })).toMatchObject({ reused: 4, imported: 0 });
    repo.close();
  });

  it('commits a batch every few debs: an abort in the middle keeps what was imported, and rejects with its reason', async () => {
    const { repo, cacheDir } = await fresh();
    await ensureDebs(await Repo.create(join(cacheDir, '..', 'warm'), 'bare-user'), locked(), { cacheDir });
    const stop = new AbortController();
    const imported: string[] = [];
    const onEvent = (e: { phase: string; message: string }) => {
      if (e.phase !== 'import') return;
      imported.push(e.message);
      if (imported.length === 2) stop.abort(new OtaError('ERR_OTA_BUILD', 'stopped by the test'));
    };
    await expect(ensureDebs(repo, locked(), { cacheDir, jobs: 1, batchDebs: 1, onEvent, signal: stop.signal })).rejects.toThrow('stopped by the test');
    expect(imported).toHaveLength(2);
    const kept = locked().filter((d) => repo.resolve(debControlRef(d.sha256), { allowMissing: true }));
    expect(kept.map((d) => `${d.name} ${d.version}`).sort()).toEqual([...imported].sort());
    expect(await ensureDebs(repo, locked(), { cacheDir })).toMatchObject({ reused: 2, imported: 2, downloaded: 0 });
    repo.close();
  });

  it('says which sources it tried when no source has the file', async () => {
    const { repo, cacheDir } = await fresh();
    const gone = { ...locked(['conf'])[0]!, originUri: `${server.url}/gone` };
    await expect(ensureDebs(repo, [gone], { cacheDir, fallbackUris: [`${server.url}/also-gone`] })).rejects.toThrow(/is on none of its sources \(.*\/gone\/pool.*\/also-gone\/pool/);
    repo.close();
  });

  it('takes debs from a file: source (a local archive) without any HTTP request', async () => {
    const { repo, cacheDir } = await fresh();
    const before = server.requests.length;
    const local = locked().map((d) => ({ ...d, originUri: pathToFileURL(join(dir, 'archive')).href }));
    const r = await ensureDebs(repo, local, { cacheDir });
    expect(r).toMatchObject({ imported: 4, downloaded: 4 });
    expect(server.requests.length).toBe(before);
    for (const d of local) expect(repo.resolve(debDataRef(d.sha256))).toMatch(/^[0-9a-f]{64}$/);
    repo.close();
  });
});
