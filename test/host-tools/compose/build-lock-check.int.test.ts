import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Repo } from '../../../node-ostree/index.js';
import { ota } from '../../helpers/cli.js';
import { buildArchive, disposeGpgKey, makeGpgKey, serveDirectory, type FixtureServer, type GpgKey } from '../../helpers/fixture-archive.js';
import { MIRROR_VAR, workspace, writeManifest, type Workspace } from '../../helpers/lock-harness.js';

// `ota build X.lock` takes the lock as untrusted input: a field that would become a path is
// refused before anything is fetched or written, a lock `ota lock --check` refuses is not built,
// and a deb whose control fields differ from its stanza is not built either. Real fixture
// archive on 127.0.0.1, real gpg, real ostree repository; the CLI runs in-process.

let tmp: string;
let key: GpgKey;
let server: FixtureServer;
let base: { manifest: string; lock: string };
/** The same image with variant minbase: base-files (Essential) and tzdata (required) come along. */
let minbase: { manifest: string; lock: string };

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-build-lock-'));
  key = await makeGpgKey(tmp);
  const archive = await buildArchive(
    path.join(tmp, 'archive'),
    [{ suite: 'stable', arches: ['amd64'], date: new Date('2024-03-01T12:00:00Z'), components: { main: [{ name: 'app', version: '1.0-1', depends: 'libmid (>= 1.0)' }, { name: 'libmid', version: '1.0-1' }, { name: 'base-files', version: '13-1', essential: true }, { name: 'tzdata', version: '2024a-1', priority: 'required' }] } }],
    { key },
  );
  server = await serveDirectory(archive.root);
  const ws = await workspace(tmp, 'base');
  await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['app'] });
  vi.stubEnv(MIRROR_VAR, server.url);
  vi.stubEnv('OTA_CACHE_DIR', ws.cacheDir);
  expect((await ota('lock', ws.manifest)).code).toBe(0);
  base = { manifest: await readFile(ws.manifest, 'utf8'), lock: await readFile(ws.lockPath, 'utf8') };
  const mb = await workspace(tmp, 'base-minbase');
  await writeManifest(mb.manifest, { variant: 'minbase', sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['app'] });
  expect((await ota('lock', mb.manifest)).code).toBe(0);
  vi.unstubAllEnvs();
  minbase = { manifest: await readFile(mb.manifest, 'utf8'), lock: await readFile(mb.lockPath, 'utf8') };
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (key) await disposeGpgKey(key);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

afterEach(() => vi.unstubAllEnvs());

/** A workspace holding the base manifest and the base lock after `edit`. */
async function edited(name: string, edit: (lock: string) => string, from = base): Promise<Workspace & { repo: string }> {
  const ws = await workspace(tmp, name);
  await writeFile(ws.manifest, from.manifest);
  await writeFile(ws.lockPath, edit(from.lock));
  vi.stubEnv(MIRROR_VAR, server.url);
  return { ...ws, repo: path.join(ws.dir, 'repo') };
}

const stanzaOf = (lock: string, name: string) => lock.split('\n\n').find((s) => s.startsWith(`Package: ${name}\n`))!;
const without = (lock: string, name: string) => `${lock.trimEnd().split('\n\n').filter((s) => !s.startsWith(`Package: ${name}\n`)).join('\n\n')}\n`;

describe('ota build refuses a lock that is not what ota lock writes', () => {
  it("refuses the issue's SHA256 path before anything is fetched or written: the victim file stays", async () => {
    const victim = path.join(tmp, 'victim');
    await mkdir(victim, { recursive: true });
    await writeFile(path.join(victim, 'pwned.deb'), 'x\n');
    const up = '../'.repeat(12);
    const ws = await edited('sha-path', (t) => t.replace(stanzaOf(t, 'app'), stanzaOf(t, 'app').replace(/^SHA256: .*$/m, `SHA256: ${up}${victim.slice(1)}/pwned`)));
    const check = await ota('lock', '--check', ws.manifest);
    expect(check.code).toBe(2);
    expect(check.err).toMatch(/image\.lock: package stanza 1 \(app\): SHA256 is not 64 lowercase hex digits/);
    const r = await ota('build', ws.lockPath, '--repo', ws.repo, '--cache-dir', ws.cacheDir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/error: .*image\.lock: package stanza 1 \(app\): SHA256 is not 64 lowercase hex digits/);
    expect(await readFile(path.join(victim, 'pwned.deb'), 'utf8')).toBe('x\n');
    expect(existsSync(ws.repo)).toBe(false);
    expect(existsSync(ws.cacheDir)).toBe(false);
    expect(server.requests.filter((p) => p.endsWith('.deb'))).toEqual([]);
  });

  it('refuses a lock with a deleted stanza (`--check` exits 3): no repository, no ref', async () => {
    const ws = await edited('deleted', (t) => without(t, 'libmid'));
    expect((await ota('lock', '--check', ws.manifest)).code).toBe(3);
    const r = await ota('build', ws.lockPath, '--repo', ws.repo, '--cache-dir', ws.cacheDir);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error: ${ws.lockPath} does not satisfy ${ws.manifest} (1 problem); nothing was built`);
    expect(r.err).toContain('app Depends libmid (>= 1.0) is not satisfied inside the lock');
    expect(r.err).toContain(`hint: run \`ota lock --update ${ws.manifest}\``);
    expect(existsSync(ws.repo)).toBe(false);
  });

  it('checks a lock without a manifest beside it against its own header', async () => {
    const ws = await edited('alone', (t) => without(t, 'app'));
    const lone = path.join(ws.dir, 'alone', 'image.lock');
    await mkdir(path.dirname(lone));
    await copyFile(ws.lockPath, lone);
    const r = await ota('build', lone, '--repo', ws.repo, '--cache-dir', ws.cacheDir);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error: ${lone} does not satisfy its own header (2 problems)`);
    expect(r.err).toContain('app is requested but not in the lock');
    // What only app needed is left over: nothing the header requests reaches it.
    expect(r.err).toContain('libmid is in the lock, but nothing requested depends on it');
    expect(existsSync(ws.repo)).toBe(false);
  });

  it("refuses a stanza whose Version was edited, naming the lock's and the deb's, before and after the deb is imported", async () => {
    const ws = await edited('version', (t) => t.replace(stanzaOf(t, 'libmid'), stanzaOf(t, 'libmid').replace('Version: 1.0-1', 'Version: 1.0-9')));
    // The dependencies still hold (app needs libmid >= 1.0), so --check cannot see it; the deb can.
    expect((await ota('lock', '--check', ws.manifest)).code).toBe(0);
    const sha = /^SHA256: (.*)$/m.exec(stanzaOf(base.lock, 'libmid'))![1]!;
    for (const run of ['fresh repository', 'debs imported']) {
      const r = await ota('build', ws.lockPath, '--repo', ws.repo, '--cache-dir', ws.cacheDir);
      expect(r.code, run).toBe(2);
      expect(r.err, run).toContain(`error: ${ws.lockPath}: 1 stanza does not describe the deb it locks; nothing was built`);
      expect(r.err, run).toContain(`the lock says libmid 1.0-9 amd64, but its deb (SHA256 ${sha}) is libmid 1.0-1 amd64`);
      const repo = await Repo.open(ws.repo);
      try {
        expect([...repo.listRefs().keys()].filter((ref) => !ref.startsWith('ota/deb/')), run).toEqual([]);
      } finally {
        repo.close();
      }
    }
    expect((await readdir(path.join(ws.cacheDir, 'debs'))).filter((f) => f.endsWith('.deb'))).toHaveLength(2);
  });
});

describe('the lock must be the resolution of its manifest, nothing more or less', () => {
  /** `--check` exits 3 and the build exits 2 naming `problem`, with no repository made. */
  async function expectRefused(ws: Workspace & { repo: string }, problem: string): Promise<void> {
    const check = await ota('lock', '--check', ws.manifest);
    expect(check.code).toBe(3);
    expect(check.err).toContain(problem);
    const r = await ota('build', ws.lockPath, '--repo', ws.repo, '--cache-dir', ws.cacheDir);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error: ${ws.lockPath} does not satisfy ${ws.manifest}`);
    expect(r.err).toContain(problem);
    expect(existsSync(ws.repo)).toBe(false);
  }

  it('ota lock records the seeds of variant minbase in Variant-Seed, and the untouched lock passes', async () => {
    expect(minbase.lock).toContain('\nVariant-Seed: base-files tzdata\n');
    expect(base.lock).not.toContain('Variant-Seed');
    const ws = await edited('minbase-ok', (t) => t, minbase);
    expect((await ota('lock', '--check', ws.manifest)).code).toBe(0);
  });

  it('refuses a minbase lock whose required tzdata stanza was deleted', async () => {
    await expectRefused(await edited('no-tzdata', (t) => without(t, 'tzdata'), minbase), 'tzdata is a seed of variant minbase (Variant-Seed) but not in the lock');
  });

  it('refuses a stanza nobody requested or depends on', async () => {
    const hello = stanzaOf(base.lock, 'libmid').replace('Package: libmid', 'Package: hello');
    await expectRefused(await edited('hello', (t) => t.replace(stanzaOf(t, 'libmid'), `${hello}\n\n${stanzaOf(t, 'libmid')}`)), 'hello is in the lock, but nothing requested depends on it');
  });

  it('refuses a Sources line the manifest does not yield (a file: uri onto /etc), before reading from it', async () => {
    const evil = ` \${${MIRROR_VAR}} file:///etc stable main 500 ${'b'.repeat(64)} 2024-03-01T12:00:00Z`;
    const ws = await edited('etc-source', (t) =>
      t.replace(/^Sources:\n/m, `Sources:\n${evil}\n`).replace(stanzaOf(t, 'libmid'), stanzaOf(t, 'libmid').replace(/^Filename: .*$/m, 'Filename: shadow').replace(/^Origin-Uri: .*$/m, 'Origin-Uri: file:///etc')),
    );
    await expectRefused(ws, `the lock's source \${${MIRROR_VAR}} file:///etc stable is not one the manifest yields`);
  });
});
