import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ota, type CliResult } from '../../helpers/cli.js';
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
  manifestText,
  parseLockText,
  requestsDuring,
  versions,
  workspace,
  writeManifest,
  type Workspace,
} from '../../helpers/lock-harness.js';

// `ota lock` and `ota import multistrap` through the CLI's `main()`: what they print, and the exit
// codes (2 for a bad manifest, an unknown package or usage, 1 for a failed lock, 3 for a stale lock under --check).
// The CLI reads the archive URL and OTA_CACHE_DIR from the environment, so each test stubs both.

const app1: FixturePackage = { name: 'app', version: '1.0-1', depends: 'libmid (>= 1.0), libold' };
const app2: FixturePackage = { name: 'app', version: '1.1-1', depends: 'libmid (>= 1.0), libnew' };
const libmid: FixturePackage = { name: 'libmid', version: '1.0-1', depends: 'libbase' };
const libbase1: FixturePackage = { name: 'libbase', version: '1.0-1' };
const libbase2: FixturePackage = { name: 'libbase', version: '1.1-1' };
const libold: FixturePackage = { name: 'libold', version: '1.0-1' };
const libnew: FixturePackage = { name: 'libnew', version: '1.0-1' };
const extra: FixturePackage = { name: 'extra', version: '1.0-1', depends: 'libbase (>= 1.0)' };
const extraUpdate: FixturePackage = { name: 'extra', version: '1.0-2', depends: 'libbase (>= 1.0)' };
const broken: FixturePackage = { name: 'broken', version: '1.0-1', depends: 'libneeds' };
const libneeds: FixturePackage = { name: 'libneeds', version: '1.0-1', depends: 'libbase (>= 2.0)' };
const baseFiles: FixturePackage = { name: 'base-files', version: '13-1', essential: true, priority: 'required' };
const v1 = [app1, libmid, libbase1, libold, extra, broken, libneeds, baseFiles];

let tmp: string;
let key: GpgKey;
/** The archive as first published, and later with newer app and libbase (older versions kept). */
let archive1: BuiltArchive;
let archive2: BuiltArchive;
let server1: FixtureServer;
let server2: FixtureServer;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-cli-'));
  key = await makeGpgKey(tmp);
  const date = new Date('2024-03-01T12:00:00Z');
  [archive1, archive2] = await Promise.all([
    buildArchive(
      path.join(tmp, 'archive-1'),
      [
        { suite: 'stable', arches: ['amd64'], date, components: { main: v1 } },
        { suite: 'stable-updates', arches: ['amd64'], date, components: { main: [extraUpdate] } },
      ],
      { key },
    ),
    buildArchive(path.join(tmp, 'archive-2'), [{ suite: 'stable', arches: ['amd64'], date, components: { main: [...v1, app2, libbase2, libnew] } }], { key }),
  ]);
  [server1, server2] = await Promise.all([serveDirectory(archive1.root), serveDirectory(archive2.root)]);
}, 30_000);

afterAll(async () => {
  await server1?.close();
  await server2?.close();
  if (key) await disposeGpgKey(key);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

afterEach(() => {
  vi.unstubAllEnvs();
});



/** A workspace whose manifest asks for `packages` from the archive `server` serves (via the environment). */
async function setup(name: string, server: FixtureServer, packages: string[] = ['app']): Promise<Workspace> {
  const ws = await workspace(tmp, name);
  await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.armored }], packages });
  useServer(ws, server);
  return ws;
}

function useServer(ws: Workspace, server: FixtureServer): void {
  vi.stubEnv(MIRROR_VAR, server.url);
  vi.stubEnv('OTA_CACHE_DIR', ws.cacheDir);
}

describe('ota lock: manifest errors and unknown packages (exit 2), resolution failures (exit 1)', () => {
  it('an unknown key names the file and line, and suggests the right key', async () => {
    const ws = await setup('unknown-key', server1);
    const text = manifestText({ sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['app'] }).replace('packages:', 'pakages:');
    await writeFile(ws.manifest, text);
    const line = text.split('\n').findIndex((l) => l.startsWith('pakages:')) + 1;
    const r = await requestsDuring(server1, async () => {
      const res = await ota('lock', ws.manifest);
      expect(res.code).toBe(2);
      expect(res.err).toContain(`error: unknown key "pakages" at the top level (${ws.manifest}:${line}); did you mean "packages"?`);
    });
    expect(r).toEqual([]);
    expect(await listDir(ws.dir)).toEqual(['image.yaml']);
  });

  it('an unknown key inside a source names the source', async () => {
    const ws = await setup('unknown-source-key', server1);
    const text = manifestText({ sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['app'] }).replace('    keyring:', '    keyrings:');
    await writeFile(ws.manifest, text);
    const line = text.split('\n').findIndex((l) => l.includes('keyrings:')) + 1;
    const res = await ota('lock', ws.manifest);
    expect(res.code).toBe(2);
    expect(res.err).toContain(`unknown key "keyrings" at sources[0] (${ws.manifest}:${line}); did you mean "keyring"?`);
  });

  it('an unset ${VAR} in a source uri names the variable', async () => {
    const ws = await setup('unset-var', server1);
    await writeManifest(ws.manifest, { sources: [{ uri: '${OTA_FIXTURE_UNSET_MIRROR}', suites: ['stable'], keyring: key.armored }], packages: ['app'] });
    const res = await ota('lock', ws.manifest);
    expect(res.code).toBe(2);
    expect(res.err).toMatch(/error: sources\[0\] \(.*image\.yaml\): environment variable OTA_FIXTURE_UNSET_MIRROR is not set/);
    expect(res.err).toMatch(/hint: export OTA_FIXTURE_UNSET_MIRROR=/);
    expect(await listDir(ws.dir)).toEqual(['image.yaml']);
  });

  it('an unknown package is reported with close names', async () => {
    const ws = await setup('unknown-package', server1, ['libmdi']);
    const res = await ota('lock', ws.manifest);
    expect(res.code).toBe(2);
    expect(res.err).toMatch(/error: locking .*image\.yaml: unknown package libmdi: no source has it for amd64/);
    expect(res.err).toMatch(/hint: close names: libmid\b/);
    expect(await listDir(ws.dir)).toEqual(['cache', 'image.yaml']);
  });

  it('an unsatisfiable dependency is reported with the chain that needs it', async () => {
    const ws = await setup('unsatisfiable', server1, ['broken']);
    const res = await ota('lock', ws.manifest);
    expect(res.code).toBe(1);
    expect(res.err).toContain('cannot satisfy libneeds 1.0-1 Depends: libbase (>= 2.0)');
    expect(res.err).toContain('  needed by: (requested) broken -> libneeds');
    expect(res.err).toContain('  libbase (>= 2.0): the candidate is 1.0-1');
    expect(await listDir(ws.dir)).toEqual(['cache', 'image.yaml']);
  });

  it('two modes at once are a usage error', async () => {
    const ws = await setup('two-modes', server1);
    const res = await ota('lock', '--update', '--check', ws.manifest);
    expect(res.code).toBe(2);
    expect(res.err).toContain('--update, --check and --explain are separate modes');
  });
});

describe('ota lock and ota lock --update', () => {
  it('writes the lock, then with an unchanged manifest does nothing and fetches nothing', async () => {
    const ws = await setup('write', server1);
    const first = await ota('lock', ws.manifest);
    expect(first.code).toBe(0);
    expect(first.out).toEqual([expect.stringMatching(new RegExp(`^${ws.lockPath}: 4 packages, written; fetched [0-9.]+ KiB in [0-9.]+s$`))]);
    const parsed = parseLockText(await readFile(ws.lockPath, 'utf8'));
    expect(versions(parsed)).toEqual({ app: '1.0-1', libbase: '1.0-1', libmid: '1.0-1', libold: '1.0-1' });
    expectMatchesDebs(parsed, archive1);
    const text = await readFile(ws.lockPath, 'utf8');

    let again: CliResult | undefined;
    const asked = await requestsDuring(server1, async () => (again = await ota('lock', ws.manifest)));
    expect(asked).toEqual([]);
    expect(again!.code).toBe(0);
    expect(again!.out).toEqual([expect.stringMatching(/: 4 packages, up to date; fetched 0 B in /)]);
    expect(await readFile(ws.lockPath, 'utf8')).toBe(text);
  });

  it('--update prints what was added, removed and upgraded after the archive gained newer versions', async () => {
    const ws = await setup('update', server1);
    expect((await ota('lock', ws.manifest)).code).toBe(0);

    useServer(ws, server2);
    const res = await ota('lock', '--update', ws.manifest);
    expect(res.code).toBe(0);
    expect(res.out).toEqual([
      '+ libnew 1.0-1',
      '- libold 1.0-1',
      '~ app 1.0-1 -> 1.1-1',
      '~ libbase 1.0-1 -> 1.1-1',
      expect.stringMatching(new RegExp(`^${ws.lockPath}: 4 packages, updated \\(1 added, 1 removed, 2 changed\\); fetched`)),
    ]);
    const parsed = parseLockText(await readFile(ws.lockPath, 'utf8'));
    expect(versions(parsed)).toEqual({ app: '1.1-1', libbase: '1.1-1', libmid: '1.0-1', libnew: '1.0-1' });
    expectMatchesDebs(parsed, archive2);
    expect(parsed.packages.get('app')!.get('Origin-Uri')).toBe(server2.url);

    // Nothing new upstream: --update re-resolves, finds the same lock, and leaves the file alone.
    const same = await ota('lock', '--update', ws.manifest);
    expect(same.out).toEqual([expect.stringMatching(/: 4 packages, up to date; /)]);
  });

  it('without --update, a changed manifest keeps the locked versions that are still available', async () => {
    const ws = await setup('prefer', server1);
    expect((await ota('lock', ws.manifest)).code).toBe(0);

    useServer(ws, server2);
    await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['app', 'extra'] });
    const res = await ota('lock', ws.manifest);
    expect(res.code).toBe(0);
    expect(res.out).toEqual(['+ extra 1.0-1', expect.stringMatching(/: 5 packages, updated \(1 added, 0 removed, 0 changed\)/)]);
    const parsed = parseLockText(await readFile(ws.lockPath, 'utf8'));
    // app 1.1-1 and libbase 1.1-1 are newer in archive 2, but the lock had 1.0-1 and keeps it.
    expect(versions(parsed)).toEqual({ app: '1.0-1', extra: '1.0-1', libbase: '1.0-1', libmid: '1.0-1', libold: '1.0-1' });
  });
});

describe('an existing lockfile ota cannot read', () => {
  /** A workspace with a good lock whose text `edit` then mangles. */
  async function mangled(name: string, edit: (t: string) => string): Promise<{ ws: Workspace; good: string; bad: string }> {
    const ws = await setup(name, server1);
    expect((await ota('lock', ws.manifest)).code).toBe(0);
    const good = await readFile(ws.lockPath, 'utf8');
    const bad = edit(good);
    await writeFile(ws.lockPath, bad);
    // Change the manifest too, so the lock is not taken as up to date without being read.
    await writeFile(ws.manifest, `${await readFile(ws.manifest, 'utf8')}# edited\n`);
    return { ws, good, bad };
  }

  it('from another lockfile version: `ota lock` refuses (exit 2) and says to --update, which replaces it', async () => {
    const { ws, bad } = await mangled('old-version', (t) => t.replace('Lockfile-Version: 1', 'Lockfile-Version: 0'));
    const refused = await ota('lock', ws.manifest);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain(`${ws.lockPath} has lockfile version 0; this ota reads version 1`);
    expect(refused.err).toContain('hint: regenerate it with `ota lock --update`');
    expect(await readFile(ws.lockPath, 'utf8')).toBe(bad);

    const updated = await ota('lock', '--update', ws.manifest);
    expect(updated.code).toBe(0);
    expect(updated.err).toMatch(/warning: .*image\.lock .*replaced/);
    const parsed = parseLockText(await readFile(ws.lockPath, 'utf8'));
    expect(parsed.header.get('Lockfile-Version')).toBe('1');
    expect(versions(parsed)).toEqual({ app: '1.0-1', libbase: '1.0-1', libmid: '1.0-1', libold: '1.0-1' });
  });

  it('with merge-conflict markers: `ota lock --update` regenerates it', async () => {
    const { ws } = await mangled('conflict', (t) => t.replace('\n\nPackage: libmid\n', '\n\n<<<<<<< ours\nPackage: libmid\n=======\n>>>>>>> theirs\n'));
    const refused = await ota('lock', ws.manifest);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/image\.lock:\d+: expected "Field: value", got "<<<<<<< ours"/);
    const updated = await ota('lock', '--update', ws.manifest);
    expect(updated.code).toBe(0);
    expect(versions(parseLockText(await readFile(ws.lockPath, 'utf8')))).toEqual({ app: '1.0-1', libbase: '1.0-1', libmid: '1.0-1', libold: '1.0-1' });
  });

  it('that is not a lockfile at all is never overwritten, not even by --update', async () => {
    const ws = await setup('not-a-lock', server1);
    await writeFile(ws.lockPath, 'Title: my notes\n');
    for (const args of [['lock', ws.manifest], ['lock', '--update', ws.manifest]]) {
      const res = await ota(...args);
      expect(res.code).toBe(2);
      expect(res.err).toContain(`${ws.lockPath} is not an ota lockfile (no Lockfile-Version header)`);
      expect(res.err).not.toContain('hint: regenerate it with `ota lock');
      expect(await readFile(ws.lockPath, 'utf8')).toBe('Title: my notes\n');
    }
  });
});

describe('ota lock --check', () => {
  let base: { manifest: string; lock: string };

  beforeAll(async () => {
    const ws = await workspace(tmp, 'check-base');
    await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['app'] });
    vi.stubEnv(MIRROR_VAR, server1.url);
    vi.stubEnv('OTA_CACHE_DIR', ws.cacheDir);
    expect((await ota('lock', ws.manifest)).code).toBe(0);
    vi.unstubAllEnvs();
    base = { manifest: await readFile(ws.manifest, 'utf8'), lock: await readFile(ws.lockPath, 'utf8') };
  });

  /** A copy of the base manifest and lock, edited, then checked (with no mirror variable set: --check fetches nothing). */
  async function check(name: string, edit: { manifest?: (t: string) => string; lock?: (t: string) => string }): Promise<CliResult> {
    const ws = await workspace(tmp, name);
    await writeFile(ws.manifest, (edit.manifest ?? ((t) => t))(base.manifest));
    await writeFile(ws.lockPath, (edit.lock ?? ((t) => t))(base.lock));
    const res = await ota('lock', '--check', ws.manifest);
    expect(await readFile(ws.lockPath, 'utf8')).toBe((edit.lock ?? ((t) => t))(base.lock)); // --check never writes
    return res;
  }

  it('passes on a fresh lock', async () => {
    const res = await check('check-fresh', {});
    expect(res.code).toBe(0);
    expect(res.out).toEqual([expect.stringMatching(/image\.lock satisfies .*image\.yaml$/)]);
  });

  it('passes after only adding a comment to the manifest', async () => {
    const res = await check('check-comment', { manifest: (t) => `# the gateway image\n${t}# trailing note\n` });
    expect(res.code).toBe(0);
  });

  it('fails with 3 after adding a package to the manifest', async () => {
    const res = await check('check-added', { manifest: (t) => t.replace('  - app\n', '  - app\n  - extra\n') });
    expect(res.code).toBe(3);
    expect(res.err).toMatch(/image\.lock no longer satisfies .*image\.yaml \(1 problem\)/);
    expect(res.err).toContain('  extra is requested but not in the lock');
    expect(res.err).toContain('hint: run `ota lock --update');
  });

  it('fails with 3 after excluding a package that is in the lock', async () => {
    const res = await check('check-exclude', { manifest: (t) => `${t}exclude: [libold]\n` });
    expect(res.code).toBe(3);
    expect(res.err).toContain('libold is excluded but in the lock');
  });

  it('fails with 3 after the lock was hand-edited to drop a dependency', async () => {
    const dropLibmid = (t: string) => t.replace(/\n\nPackage: libmid\n[\s\S]*?(?=\n\nPackage: )/, '');
    expect(dropLibmid(base.lock)).not.toContain('Package: libmid');
    const res = await check('check-dropped', { lock: dropLibmid });
    expect(res.code).toBe(3);
    expect(res.err).toContain('app Depends libmid (>= 1.0) is not satisfied inside the lock');
  });

  it('fails with 3 on a Sources line that is not the expansion of the manifest\'s ${VAR}, with the variable unset', async () => {
    // No mirror variable here: its value is the lock's first line's, and a second URI for the same source is not it.
    const evil = (t: string) => t.replace(/^(Sources:\n .*\n)/m, `$1 \${${MIRROR_VAR}} file:///etc stable main 500 ${'b'.repeat(64)} 2024-03-01T12:00:00Z\n`);
    expect(evil(base.lock)).toContain('file:///etc stable');
    const res = await check('check-etc-source', { lock: evil });
    expect(res.code).toBe(3);
    expect(res.err).toContain(`the lock's source \${${MIRROR_VAR}} file:///etc stable is not one the manifest yields`);
  });

  it('fails with 3 after a suite the lock used was removed from the manifest', async () => {
    const ws = await setup('check-suite', server1, ['app', 'extra']);
    const twoSuites = { sources: [{ suites: ['stable', 'stable-updates'], keyring: key.armored }], packages: ['app', 'extra'] };
    await writeManifest(ws.manifest, twoSuites);
    expect((await ota('lock', ws.manifest)).code).toBe(0);
    const parsed = parseLockText(await readFile(ws.lockPath, 'utf8'));
    expect(parsed.packages.get('extra')!.get('Origin-Suite')).toBe('stable-updates');
    expect((await ota('lock', '--check', ws.manifest)).code).toBe(0);

    await writeManifest(ws.manifest, { ...twoSuites, sources: [{ suites: ['stable'], keyring: key.armored }] });
    const res = await ota('lock', '--check', ws.manifest);
    expect(res.code).toBe(3);
    expect(res.err).toMatch(/\(1 problem\)/);
    expect(res.err).toContain(`the lock was made with suite stable-updates of source \${${MIRROR_VAR}}, which the manifest no longer has`);
  });

  it('names a source the manifest dropped once, however many suites the lock used from it', async () => {
    const ws = await setup('check-source', server1, ['app']);
    await writeManifest(ws.manifest, { sources: [{ suites: ['stable', 'stable-updates'], keyring: key.armored }], packages: ['app'] });
    expect((await ota('lock', ws.manifest)).code).toBe(0);
    await writeManifest(ws.manifest, { sources: [{ uri: '${OTA_FIXTURE_OTHER_MIRROR}', suites: ['stable'], keyring: key.armored }], packages: ['app'] });
    const res = await ota('lock', '--check', ws.manifest);
    expect(res.code).toBe(3);
    expect(res.err).toMatch(/\(2 problems\)/);
    expect(res.err).toContain('  source ${OTA_FIXTURE_OTHER_MIRROR} is in the manifest but was not used for the lock');
    expect(res.err.split(`the lock was made with source \${${MIRROR_VAR}}, which the manifest no longer has`)).toHaveLength(2);
  });

  it('fails with 3 when there is no lock at all', async () => {
    const ws = await workspace(tmp, 'check-missing');
    await writeFile(ws.manifest, base.manifest);
    const res = await ota('lock', '--check', ws.manifest);
    expect(res.code).toBe(3);
    expect(res.err).toMatch(/image\.lock does not exist/);
  });
});

describe('ota lock --explain', () => {
  let ws: Workspace;

  beforeAll(async () => {
    ws = await workspace(tmp, 'explain');
    await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['app'] });
    vi.stubEnv(MIRROR_VAR, server1.url);
    vi.stubEnv('OTA_CACHE_DIR', ws.cacheDir);
    expect((await ota('lock', ws.manifest)).code).toBe(0);
    vi.unstubAllEnvs();
  });

  it('prints the chain from the requested package to a transitive dependency', async () => {
    const res = await ota('lock', '--explain', 'libbase', ws.manifest);
    expect(res.code).toBe(0);
    expect(res.out).toEqual([
      `libbase 1.0-1 is in ${ws.lockPath} because:`,
      '  app 1.0-1: requested by the manifest',
      '  -> libmid 1.0-1  (Depends: libmid (>= 1.0))',
      '  -> libbase 1.0-1  (Depends: libbase)',
      'needed directly by: libmid',
    ]);
  });

  it('explains a requested package as requested', async () => {
    const res = await ota('lock', '--explain', 'app', ws.manifest);
    expect(res.out).toEqual([`app 1.0-1 is in ${ws.lockPath} because:`, '  app 1.0-1: requested by the manifest']);
  });

  it('fails for a package that is not in the lock', async () => {
    const res = await ota('lock', '--explain', 'extra', ws.manifest);
    expect(res.code).toBe(2);
    expect(res.out).toEqual([]);
    expect(res.err).toContain(`error: extra is not in ${ws.lockPath}`);
  });
});

describe('ota import multistrap, then ota lock', () => {
  it('imports a multistrap config whose source is the fixture archive and locks it', async () => {
    const ws = await workspace(tmp, 'multistrap');
    const conf = path.join(ws.dir, 'gateway.conf');
    await writeFile(
      conf,
      ['[General]', 'arch=amd64', 'bootstrap=Fixture', 'aptsources=Fixture', '', '[Fixture]', 'packages=app extra', `source=${server1.url}`, 'suite=stable', 'components=main', ''].join('\n'),
    );
    const imported = await ota('import', 'multistrap', conf, '-o', ws.manifest);
    expect(imported.code).toBe(0);
    expect(imported.out).toEqual([`${ws.manifest}: manifest imported from ${conf} (1 warnings)`]);
    expect(imported.err).toMatch(/warning: \[Fixture\] names no keyring; set keyring: for http:\/\/127\.0\.0\.1:\d+ in the manifest/);
    const twice = await ota('import', 'multistrap', conf, '-o', ws.manifest);
    expect(twice.code).toBe(2);
    expect(twice.err).toContain(`error: ${ws.manifest} already exists`);

    // The one thing to finish by hand, as the warning says: the keyring.
    const doc = parseDocument(await readFile(ws.manifest, 'utf8'));
    expect(doc.toJS()).toMatchObject({ name: 'gateway', arch: 'amd64', variant: 'minbase', packages: ['app', 'extra'], sources: [{ uri: server1.url, suites: ['stable'], components: ['main'] }] });
    doc.setIn(['sources', 0, 'keyring'], key.keyring);
    await writeFile(ws.manifest, doc.toString());

    vi.stubEnv('OTA_CACHE_DIR', ws.cacheDir);
    const res = await ota('lock', ws.manifest);
    expect(res.code).toBe(0);
    const parsed = parseLockText(await readFile(path.join(ws.dir, 'image.lock'), 'utf8'));
    // minbase (multistrap's default without omitrequired) brings the Essential base-files along.
    expect(versions(parsed)).toEqual({ app: '1.0-1', 'base-files': '13-1', extra: '1.0-1', libbase: '1.0-1', libmid: '1.0-1', libold: '1.0-1' });
    expectMatchesDebs(parsed, archive1);
    expect(parsed.sources[0]!.slice(0, 4)).toEqual([server1.url, server1.url, 'stable', 'main']);
    expect(parsed.header.get('Variant')).toBe('minbase');

    expect((await ota('lock', '--check', ws.manifest)).code).toBe(0);
    const why = await ota('lock', '--explain', 'base-files', ws.manifest);
    expect(why.out[1]).toBe('  base-files 13-1: Essential: yes (variant minbase)');
  });
});
