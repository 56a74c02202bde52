import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ota } from '../../helpers/cli.js';
import { buildArchive, disposeGpgKey, makeGpgKey, serveDirectory, type FixturePackage, type FixtureServer, type GpgKey } from '../../helpers/fixture-archive.js';
import { MIRROR_VAR, parseLockText, workspace, writeManifest, type Workspace } from '../../helpers/lock-harness.js';

// A manifest's local .debs (docs/manifest.md, "Local debs"): real .debs built by dpkg-deb (the
// fixture archive's builder, in a folder of their own), locked against a real signed archive on
// 127.0.0.1 with real gpg; the CLI runs in-process.

let tmp: string;
let key: GpgKey;
let server: FixtureServer;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-local-debs-'));
  key = await makeGpgKey(tmp);
  const archive = await buildArchive(path.join(tmp, 'archive'), [{ suite: 'stable', arches: ['amd64'], components: { main: [{ name: 'app', version: '1.0-1' }, { name: 'libmid', version: '1.2-1' }] } }], { key });
  server = await serveDirectory(archive.root);
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (key) await disposeGpgKey(key);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

afterEach(() => vi.unstubAllEnvs());

let debCount = 0;
/** Builds one .deb with dpkg-deb (through the fixture archive's builder) and copies it to `dest`. */
async function makeDeb(dest: string, pkg: FixturePackage): Promise<string> {
  const root = path.join(tmp, `debs-${++debCount}`);
  const arch = pkg.arch === 'all' || !pkg.arch ? 'amd64' : pkg.arch;
  const built = await buildArchive(root, [{ suite: 's', arches: [arch], components: { main: [pkg] } }]);
  await mkdir(path.dirname(dest), { recursive: true });
  await copyFile([...built.debs.values()][0]!.path, dest);
  return dest;
}

async function localWorkspace(name: string, debs: string[], packages = ['app']): Promise<Workspace> {
  const ws = await workspace(tmp, name);
  await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.armored }], packages, extra: [`debs: [${debs.join(', ')}]`] });
  vi.stubEnv(MIRROR_VAR, server.url);
  vi.stubEnv('OTA_CACHE_DIR', ws.cacheDir);
  return ws;
}

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

describe('ota lock with local debs', () => {
  it('records the deb with its SHA256, resolves its Depends from the suites, and --check notices a rebuilt file', async () => {
    const ws = await localWorkspace('records', ['debs/tool_2.0_amd64.deb']);
    const deb = await makeDeb(path.join(ws.dir, 'debs/tool_2.0_amd64.deb'), { name: 'tool', version: '2.0', arch: 'amd64', depends: 'libmid (>= 1.0)', files: { '/usr/bin/tool': '#!/bin/sh\necho one\n' } });
    const r = await ota('lock', ws.manifest);
    expect(r.code).toBe(0);
    const lock = parseLockText(await readFile(ws.lockPath, 'utf8'));
    expect(lock.header.get('Local-Debs')).toBe('debs/tool_2.0_amd64.deb');
    const tool = lock.packages.get('tool')!;
    expect(Object.fromEntries(tool)).toMatchObject({
      Version: '2.0', Architecture: 'amd64', Depends: 'libmid (>= 1.0)', Filename: 'debs/tool_2.0_amd64.deb',
      SHA256: await sha256(deb), Size: String((await readFile(deb)).length), 'Origin-Uri': 'local', 'Origin-Suite': 'local', 'Origin-Component': '-',
    });
    expect([...lock.packages.keys()].sort()).toEqual(['app', 'libmid', 'tool']);
    expect((await ota('lock', '--check', ws.manifest)).code).toBe(0);

    // Same name and version, other bytes: the lock no longer describes the file.
    await makeDeb(deb, { name: 'tool', version: '2.0', arch: 'amd64', depends: 'libmid (>= 1.0)', files: { '/usr/bin/tool': '#!/bin/sh\necho two\n' } });
    const stale = await ota('lock', '--check', ws.manifest);
    expect(stale.code).toBe(3);
    expect(stale.err).toMatch(/local deb debs\/tool_2\.0_amd64\.deb has changed since the lock/);
    // `ota lock` does not keep the old lock for an unchanged manifest: the deb's bytes are an input.
    expect((await ota('lock', ws.manifest)).code).toBe(0);
    expect(parseLockText(await readFile(ws.lockPath, 'utf8')).packages.get('tool')!.get('SHA256')).toBe(await sha256(deb));
    expect((await ota('lock', '--check', ws.manifest)).code).toBe(0);
  }, 60_000);

  it('fails clearly when the deb needs a package no suite has, and writes no lock', async () => {
    const ws = await localWorkspace('unmet', ['tool.deb']);
    await makeDeb(path.join(ws.dir, 'tool.deb'), { name: 'tool', version: '2.0', arch: 'amd64', depends: 'libmissing' });
    const r = await ota('lock', ws.manifest);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/libmissing/);
    expect(r.err).toMatch(/tool/);
    expect(existsSync(ws.lockPath)).toBe(false);
  }, 60_000);

  it('refuses a deb for another architecture, a path leaving the folder, and a symlink out of it', async () => {
    const arm = await localWorkspace('arch', ['tool.deb']);
    await makeDeb(path.join(arm.dir, 'tool.deb'), { name: 'tool', version: '2.0', arch: 'arm64' });
    const wrongArch = await ota('lock', arm.manifest);
    expect(wrongArch.code).toBe(2);
    expect(wrongArch.err).toMatch(/local deb tool\.deb is for arm64; the image is amd64/);

    const up = await localWorkspace('dotdot', ['../tool.deb']);
    const dotdot = await ota('lock', up.manifest);
    expect(dotdot.code).toBe(2);
    expect(dotdot.err).toMatch(/debs/);

    const out = await localWorkspace('symlink', ['tool.deb']);
    await symlink(path.join(arm.dir, 'tool.deb'), path.join(out.dir, 'tool.deb'));
    const link = await ota('lock', out.manifest);
    expect(link.code).toBe(2);
    expect(link.err).toMatch(/leads outside/);

    const notDeb = await localWorkspace('not-a-deb', ['tool.deb']);
    await writeFile(path.join(notDeb.dir, 'tool.deb'), 'not an ar archive\n');
    const bad = await ota('lock', notDeb.manifest);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/is not a \.deb dpkg-deb reads/);
    for (const ws of [arm, up, out, notDeb]) expect(existsSync(ws.lockPath)).toBe(false);
  }, 60_000);

  it('refuses a lock whose local stanza names a file the header does not list', async () => {
    const ws = await localWorkspace('tampered', ['tool.deb']);
    await makeDeb(path.join(ws.dir, 'tool.deb'), { name: 'tool', version: '2.0', arch: 'amd64' });
    expect((await ota('lock', ws.manifest)).code).toBe(0);
    const text = await readFile(ws.lockPath, 'utf8');
    await writeFile(ws.lockPath, text.replace('Filename: tool.deb', 'Filename: image.yaml'));
    const r = await ota('lock', '--check', ws.manifest);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Filename image\.yaml is not one of the header's Local-Debs/);
  }, 60_000);
});
