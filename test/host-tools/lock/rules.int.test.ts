import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { lock, type LockResult } from '../../../host-tools/lock/lock.js';
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
  mirrorEnv,
  parseLockText,
  workspace,
  writeManifest,
  type ParsedLock,
  type TestManifest,
  type TestSource,
} from '../../helpers/lock-harness.js';

// Every resolution rule of `ota lock` (host-tools/lock/resolve.ts, unit-tested in memory by
// resolve.test.ts), proved end to end: one real signed arm64 archive with two suites, served on
// 127.0.0.1, locked through the `lock()` API (manifest -> InRelease + Packages -> universe ->
// resolver -> lockfile), asserting on the lockfile's stanzas and on the errors users see.

const ARCH = 'arm64';
const DATE = new Date('2024-03-01T12:00:00Z');

// --- Depends, Pre-Depends, Recommends, Multi-Arch: same, Architecture: all ------------------------
const app: FixturePackage = {
  name: 'app',
  version: '1.0-1',
  preDepends: 'init-helper',
  depends: 'libapp1 (>= 1.2), app-data',
  recommends: 'app-doc, app-missing-plugin', // the second is in no source: skipped silently
};
const appPkgs: FixturePackage[] = [
  app,
  { name: 'init-helper', version: '1.0-1' },
  { name: 'libapp1', version: '1.2-1', multiArch: 'same', depends: 'libbase' },
  { name: 'libbase', version: '1.0-1', multiArch: 'same' },
  { name: 'app-data', version: '1.0-1', arch: 'all', multiArch: 'foreign', source: 'app' },
  { name: 'app-doc', version: '1.0-1', arch: 'all', source: 'app', depends: 'doc-viewer' },
  { name: 'doc-viewer', version: '0.9-1' },
];

// --- or-groups ------------------------------------------------------------------------------------
const orPkgs: FixturePackage[] = [
  // mta-missing is in no source; postfix-lite has the better Priority but comes later in the group.
  { name: 'or-demo', version: '1.0-1', depends: 'mta-missing | exim-lite | postfix-lite' },
  { name: 'exim-lite', version: '1.0-1', provides: 'mail-transport-agent' },
  { name: 'postfix-lite', version: '1.0-1', priority: 'important', provides: 'mail-transport-agent', conflicts: 'exim-lite' },
];

// --- version relations, with epochs and tildes ----------------------------------------------------
const relCheck: FixturePackage = {
  name: 'rel-check',
  version: '1.0-1',
  depends: [
    // satisfied
    'rel-lt (<< 1.0)', // 1.0~beta1-1: a tilde sorts before the release
    'rel-le (<= 1:0.9)', // 1:0.9, the bound itself, with an epoch and no revision
    'rel-eq (= 2:3.1-2)', // 2:3.1-2
    'rel-ge (>= 1.0~rc1)', // 1.0-1
    'rel-gt (>> 2.0)', // 1:1.0-1: the epoch outweighs the upstream version
    'rel-lt (>= 1.0~) | alt-ge-sat', // 1.0~beta1-1 >= 1.0~: the first alternative holds
    // not satisfied: each falls through to its alternative
    'rel-gt-no (>> 1.0) | alt-gt', // 1.0~rc2-1 is below 1.0
    'rel-lt-no (<< 1.0) | alt-lt', // 1:0.1-1 is above 1.0 (epoch)
    'rel-ge (<= 1.0) | alt-le', // 1.0-1 is above 1.0 (revision)
    'rel-eq (= 3.1-2) | alt-eq', // 2:3.1-2 is not 0:3.1-2
    'rel-lt (>= 1.0) | alt-ge', // 1.0~beta1-1 is below 1.0
  ].join(', '),
};
const relPkgs: FixturePackage[] = [
  relCheck,
  { name: 'rel-lt', version: '1.0~beta1-1' },
  { name: 'rel-le', version: '1:0.9' },
  { name: 'rel-eq', version: '2:3.1-2' },
  { name: 'rel-ge', version: '1.0-1' },
  { name: 'rel-gt', version: '1:1.0-1' },
  { name: 'rel-gt-no', version: '1.0~rc2-1' },
  { name: 'rel-lt-no', version: '1:0.1-1' },
  ...['alt-ge-sat', 'alt-gt', 'alt-lt', 'alt-le', 'alt-eq', 'alt-ge'].map((name) => ({ name, version: '1.0-1' })),
];

// --- virtual packages and Provides ----------------------------------------------------------------
const virtualPkgs: FixturePackage[] = [
  // one provider
  { name: 'mail-client', version: '1.0-1', depends: 'vmail' },
  { name: 'mailer-one', version: '1.0-1', provides: 'vmail' },
  // several: Essential first, although shell-imp has the better Priority and shell-std the later name
  { name: 'shell-user', version: '1.0-1', depends: 'vshell' },
  { name: 'shell-ess', version: '1.0-1', essential: true, priority: 'standard', provides: 'vshell' },
  { name: 'shell-imp', version: '1.0-1', priority: 'important', provides: 'vshell' },
  { name: 'shell-std', version: '1.0-1', priority: 'standard', provides: 'vshell' },
  // several, none Essential: the best Priority rank, although pager-xtra has the latest name
  { name: 'pager-user', version: '1.0-1', depends: 'vpager' },
  { name: 'pager-opt', version: '1.0-1', priority: 'optional', provides: 'vpager' },
  { name: 'pager-imp', version: '1.0-1', priority: 'important', provides: 'vpager' },
  { name: 'pager-std', version: '1.0-1', priority: 'standard', provides: 'vpager' },
  { name: 'pager-xtra', version: '1.0-1', priority: 'extra', provides: 'vpager' },
  // versioned Provides
  { name: 'api-user', version: '1.0-1', depends: 'vapi (>= 2), vapi (>= 3) | api-fallback, vlegacy (>= 1.0) | legacy-real' },
  { name: 'api-old', version: '9.0-1', priority: 'important', provides: 'vapi' }, // unversioned: never satisfies (>= 2)
  { name: 'api-new', version: '1.0-1', provides: 'vapi (= 2.5)' },
  { name: 'api-fallback', version: '1.0-1' },
  { name: 'legacy-prov', version: '5.0-1', provides: 'vlegacy' },
  { name: 'legacy-real', version: '1.0-1' },
];

// --- Multi-Arch qualifiers ------------------------------------------------------------------------
const maPkgs: FixturePackage[] = [
  { name: 'script-tool', version: '1.0-1', depends: 'perl-ish:any, awk-ish:any | awk-fallback, plain-ish:any | plain-fallback' },
  { name: 'perl-ish', version: '5.36-1', multiArch: 'allowed' },
  { name: 'awk-ish', version: '1.3-1', multiArch: 'foreign' },
  { name: 'awk-fallback', version: '1.0-1' },
  { name: 'plain-ish', version: '1.0-1' },
  { name: 'plain-fallback', version: '1.0-1' },
];

// --- Conflicts and Breaks -------------------------------------------------------------------------
const dbPkgs: FixturePackage[] = [
  // libapp1 is selected first; db-a conflicts with it, db-client breaks db-b, and db-client's
  // versioned Breaks on db-c does not reach db-c 1.0-1.
  { name: 'db-client', version: '1.0-1', depends: 'libapp1, db-a | db-b | db-c', breaks: 'db-b (<< 2.0), db-c (<< 1.0)' },
  { name: 'db-a', version: '1.0-1', priority: 'important', conflicts: 'libapp1' },
  { name: 'db-b', version: '1.0-1' },
  { name: 'db-c', version: '1.0-1' },
];

// --- minbase roots --------------------------------------------------------------------------------
// Essential: base-ess, shell-ess (above). Priority: required: base-ess, libc-req, mawk-req,
// dropme-req. Priority: important (shell-imp, pager-imp, ...) is no root.
const basePkgs: FixturePackage[] = [
  { name: 'base-ess', version: '1.0-1', essential: true, priority: 'required', depends: 'libc-req' },
  { name: 'libc-req', version: '2.36-9', priority: 'required', multiArch: 'same' },
  { name: 'mawk-req', version: '1.3.4-1', priority: 'required' },
  { name: 'dropme-req', version: '1.0-1', priority: 'required' },
];

// --- suites, priorities and pins ------------------------------------------------------------------
const web1: FixturePackage = { name: 'web', version: '1.0-1', depends: 'libweb (>= 2.0)' };
const web2: FixturePackage = { name: 'web', version: '1.0-2', depends: 'libweb (>= 2.0)' };
const libweb1: FixturePackage = { name: 'libweb', version: '2.0-1' };
const libweb2: FixturePackage = { name: 'libweb', version: '2.1-1' };
const clock1: FixturePackage = { name: 'clock', version: '1:2.0~rc1-1' };
const clock2: FixturePackage = { name: 'clock', version: '1:2.0-1' };
const epochy1: FixturePackage = { name: 'epochy', version: '1:1.0-1' }; // beats stable-updates' 2.0-1
const epochy2: FixturePackage = { name: 'epochy', version: '2.0-1' };
const sameBoth: FixturePackage = { name: 'same-both', version: '1.0-1' };
const needsLibweb21: FixturePackage = { name: 'needs-libweb21', version: '1.0-1', depends: 'libweb (>= 2.1)' };

// --- errors ---------------------------------------------------------------------------------------
const libold1: FixturePackage = { name: 'libold', version: '1.0-1' };
const libold2: FixturePackage = { name: 'libold', version: '1.5-1' };
const chainPkgs: FixturePackage[] = [
  { name: 'chain-top', version: '1.0-1', depends: 'chain-mid' },
  { name: 'chain-mid', version: '1.0-1', depends: 'needs-new' },
  { name: 'needs-new', version: '1.0-1', depends: 'libold (>= 2.0)' },
];

const STABLE: FixturePackage[] = [
  ...appPkgs, ...orPkgs, ...relPkgs, ...virtualPkgs, ...maPkgs, ...dbPkgs, ...basePkgs, ...chainPkgs,
  web1, libweb1, needsLibweb21, clock1, epochy1, sameBoth, libold1,
];
const UPDATES: FixturePackage[] = [web2, libweb2, clock2, epochy2, sameBoth, libold2];

let tmp: string;
let key: GpgKey;
let archive: BuiltArchive;
let server: FixtureServer;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-rules-'));
  key = await makeGpgKey(tmp);
  archive = await buildArchive(
    path.join(tmp, 'archive'),
    [
      { suite: 'stable', arches: [ARCH], date: DATE, components: { main: STABLE } },
      { suite: 'stable-updates', arches: [ARCH], date: DATE, components: { main: UPDATES } },
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

type Spec = Omit<TestManifest, 'sources' | 'arch'> & { sources?: Omit<TestSource, 'keyring'>[] };

function manifestOf(spec: Spec): TestManifest {
  const sources = (spec.sources ?? [{ suites: ['stable', 'stable-updates'] }]).map((s) => ({ ...s, keyring: key.armored }));
  return { ...spec, arch: ARCH, sources };
}

/** Locks `spec` in a fresh workspace; the lockfile as written, parsed. */
async function lockSpec(name: string, spec: Spec): Promise<{ parsed: ParsedLock; result: LockResult }> {
  const ws = await workspace(tmp, name);
  await writeManifest(ws.manifest, manifestOf(spec));
  const result = await lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(server.url) });
  expect(result.written).toBe(true);
  const parsed = parseLockText(await readFile(ws.lockPath, 'utf8'));
  expectMatchesDebs(parsed, archive);
  return { parsed, result };
}

/** `name -> "version suite"` for every locked package. */
function locked(parsed: ParsedLock): Record<string, string> {
  return Object.fromEntries([...parsed.packages].map(([n, s]) => [n, `${s.get('Version')} ${s.get('Origin-Suite')}`]));
}

/** Locks `spec`, expecting an OtaError with `code` and no file left behind but the manifest. */
async function lockFailure(name: string, spec: Spec, code: OtaError['code']): Promise<OtaError> {
  const ws = await workspace(tmp, name);
  await writeManifest(ws.manifest, manifestOf(spec));
  const err = await lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(server.url) }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OtaError);
  expect((err as OtaError).code, (err as Error).message).toBe(code);
  expect((await listDir(ws.dir)).filter((f) => f !== 'cache')).toEqual(['image.yaml']);
  return err as OtaError;
}

const S = 'stable';
const U = 'stable-updates';

describe('rules through the whole pipeline: dependencies', () => {
  it('installs Pre-Depends and Depends transitively, and records Multi-Arch: same and Architecture: all', async () => {
    const { parsed, result } = await lockSpec('depends', { packages: ['app'] });
    expect(locked(parsed)).toEqual({
      app: `1.0-1 ${S}`,
      'init-helper': `1.0-1 ${S}`,
      libapp1: `1.2-1 ${S}`,
      libbase: `1.0-1 ${S}`,
      'app-data': `1.0-1 ${S}`,
    });
    const a = parsed.packages.get('app')!;
    expect([a.get('Pre-Depends'), a.get('Depends'), a.get('Recommends')]).toEqual(['init-helper', 'libapp1 (>= 1.2), app-data', 'app-doc, app-missing-plugin']);
    expect(parsed.packages.get('libapp1')!.get('Multi-Arch')).toBe('same');
    expect(parsed.packages.get('libbase')!.get('Multi-Arch')).toBe('same');
    expect(parsed.packages.get('app-data')!.get('Architecture')).toBe('all');
    expect(parsed.packages.get('app-data')!.get('Multi-Arch')).toBe('foreign');
    expect(parsed.packages.get('app')!.get('Architecture')).toBe(ARCH);
    expect(parsed.header.get('Recommends')).toBe('no');
    const reasons = result.resolution!.reasons;
    expect(reasons.get('init-helper')).toEqual({ kind: 'dependency', by: 'app', field: 'Pre-Depends', relation: 'init-helper' });
    expect(reasons.get('libapp1')).toEqual({ kind: 'dependency', by: 'app', field: 'Depends', relation: 'libapp1 (>= 1.2)' });
    expect(reasons.get('libbase')).toEqual({ kind: 'dependency', by: 'libapp1', field: 'Depends', relation: 'libbase' });
  });

  it('installs Recommends (and their dependencies) only with `recommends: true`, skipping a missing one', async () => {
    const { parsed, result } = await lockSpec('recommends', { packages: ['app'], extra: ['recommends: true'] });
    expect(locked(parsed)).toEqual({
      app: `1.0-1 ${S}`,
      'init-helper': `1.0-1 ${S}`,
      libapp1: `1.2-1 ${S}`,
      libbase: `1.0-1 ${S}`,
      'app-data': `1.0-1 ${S}`,
      'app-doc': `1.0-1 ${S}`,
      'doc-viewer': `0.9-1 ${S}`,
    });
    expect(parsed.header.get('Recommends')).toBe('yes');
    expect(result.resolution!.reasons.get('app-doc')).toEqual({ kind: 'dependency', by: 'app', field: 'Recommends', relation: 'app-doc' });
  });

  it('takes the first installable alternative of an or-group, not the best-ranked one', async () => {
    const { parsed } = await lockSpec('or-first', { packages: ['or-demo'] });
    expect(locked(parsed)).toEqual({ 'or-demo': `1.0-1 ${S}`, 'exim-lite': `1.0-1 ${S}` });
  });

  it('leaves an or-group alone when a later alternative is already selected', async () => {
    const { parsed, result } = await lockSpec('or-selected', { packages: ['or-demo', 'postfix-lite'] });
    expect(locked(parsed)).toEqual({ 'or-demo': `1.0-1 ${S}`, 'postfix-lite': `1.0-1 ${S}` });
    expect(result.resolution!.reasons.get('postfix-lite')).toEqual({ kind: 'requested' });
  });

  it('applies <<, <=, =, >= and >> with epochs and tildes, falling through or-groups where they fail', async () => {
    const { parsed } = await lockSpec('relations', { packages: ['rel-check'] });
    expect(locked(parsed)).toEqual({
      'rel-check': `1.0-1 ${S}`,
      'rel-lt': `1.0~beta1-1 ${S}`,
      'rel-le': `1:0.9 ${S}`,
      'rel-eq': `2:3.1-2 ${S}`,
      'rel-ge': `1.0-1 ${S}`,
      'rel-gt': `1:1.0-1 ${S}`,
      'alt-gt': `1.0-1 ${S}`,
      'alt-lt': `1.0-1 ${S}`,
      'alt-le': `1.0-1 ${S}`,
      'alt-eq': `1.0-1 ${S}`,
      'alt-ge': `1.0-1 ${S}`,
    });
    // Not there: alt-ge-sat (rel-lt satisfied >= 1.0~), rel-gt-no and rel-lt-no (out of range).
    expect(parsed.packages.get('rel-eq')!.get('Filename')).toBe('pool/main/r/rel-eq/rel-eq_3.1-2_arm64.deb');
  });

  it('satisfies `:any` only with Multi-Arch: allowed', async () => {
    const { parsed } = await lockSpec('multiarch', { packages: ['script-tool'] });
    expect(locked(parsed)).toEqual({
      'script-tool': `1.0-1 ${S}`,
      'perl-ish': `5.36-1 ${S}`, // allowed
      'awk-fallback': `1.0-1 ${S}`, // awk-ish is foreign
      'plain-fallback': `1.0-1 ${S}`, // plain-ish has no Multi-Arch
    });
    expect(parsed.packages.get('perl-ish')!.get('Multi-Arch')).toBe('allowed');
  });

  it('steers past an alternative that Conflicts with, or is broken by, a selected package', async () => {
    const { parsed } = await lockSpec('conflicts', { packages: ['db-client'] });
    expect(locked(parsed)).toEqual({
      'db-client': `1.0-1 ${S}`,
      libapp1: `1.2-1 ${S}`,
      libbase: `1.0-1 ${S}`,
      'db-c': `1.0-1 ${S}`, // db-a Conflicts: libapp1; db-client Breaks: db-b (<< 2.0), not db-c 1.0-1
    });
    expect(parsed.packages.get('db-client')!.get('Breaks')).toBe('db-b (<< 2.0), db-c (<< 1.0)');
  });
});

describe('rules through the whole pipeline: virtual packages', () => {
  it('installs the one provider, the Essential one of several, else the best Priority', async () => {
    const { parsed, result } = await lockSpec('virtual', { packages: ['mail-client', 'shell-user', 'pager-user'] });
    expect(locked(parsed)).toEqual({
      'mail-client': `1.0-1 ${S}`,
      'mailer-one': `1.0-1 ${S}`,
      'shell-user': `1.0-1 ${S}`,
      'shell-ess': `1.0-1 ${S}`,
      'pager-user': `1.0-1 ${S}`,
      'pager-imp': `1.0-1 ${S}`,
    });
    expect(parsed.packages.get('shell-ess')!.get('Essential')).toBe('yes');
    expect(parsed.packages.get('shell-ess')!.get('Provides')).toBe('vshell');
    expect(result.resolution!.reasons.get('shell-ess')).toEqual({ kind: 'dependency', by: 'shell-user', field: 'Depends', relation: 'vshell' });
  });

  it('installs a requested virtual name through its only provider', async () => {
    const { parsed } = await lockSpec('virtual-root', { packages: ['vmail'] });
    expect(locked(parsed)).toEqual({ 'mailer-one': `1.0-1 ${S}` });
    expect(parsed.header.get('Requested')).toBe('vmail');
  });

  it('satisfies a versioned dependency with a versioned Provides in range, never with an unversioned one', async () => {
    const { parsed } = await lockSpec('provides', { packages: ['api-user'] });
    expect(locked(parsed)).toEqual({
      'api-user': `1.0-1 ${S}`,
      'api-new': `1.0-1 ${S}`, // vapi (= 2.5) satisfies vapi (>= 2); api-old's bare vapi does not
      'api-fallback': `1.0-1 ${S}`, // vapi (= 2.5) does not satisfy vapi (>= 3)
      'legacy-real': `1.0-1 ${S}`, // legacy-prov's bare vlegacy does not satisfy vlegacy (>= 1.0)
    });
    expect(parsed.packages.get('api-new')!.get('Provides')).toBe('vapi (= 2.5)');
  });
});

describe('rules through the whole pipeline: minbase and exclude', () => {
  it('makes Essential and Priority: required packages roots, less what `exclude` drops', async () => {
    const { parsed, result } = await lockSpec('minbase', { variant: 'minbase', packages: ['app'], exclude: ['dropme-req'] });
    expect(locked(parsed)).toEqual({
      // Essential: yes
      'base-ess': `1.0-1 ${S}`,
      'shell-ess': `1.0-1 ${S}`,
      // Priority: required (dropme-req excluded; the important ones are no roots)
      'libc-req': `2.36-9 ${S}`,
      'mawk-req': `1.3.4-1 ${S}`,
      // requested, and its dependencies
      app: `1.0-1 ${S}`,
      'init-helper': `1.0-1 ${S}`,
      libapp1: `1.2-1 ${S}`,
      libbase: `1.0-1 ${S}`,
      'app-data': `1.0-1 ${S}`,
    });
    const r = result.resolution!;
    expect(r.roots).toEqual(['base-ess', 'shell-ess', 'libc-req', 'mawk-req', 'app']);
    expect(r.reasons.get('base-ess')).toEqual({ kind: 'essential' });
    expect(r.reasons.get('libc-req')).toEqual({ kind: 'required' });
    expect(r.reasons.get('app')).toEqual({ kind: 'requested' });
    expect(parsed.header.get('Variant')).toBe('minbase');
    expect(parsed.header.get('Exclude')).toBe('dropme-req');
    expect(parsed.packages.get('libc-req')!.get('Priority')).toBe('required');
  });

  it('refuses a package that is both requested and excluded', async () => {
    const err = await lockFailure('excluded-root', { packages: ['mawk-req'], exclude: ['mawk-req'] }, 'ERR_OTA_MANIFEST');
    expect(err.message).toMatch(/package mawk-req is both requested and excluded$/);
  });
});

describe('rules through the whole pipeline: suites, priorities and pins', () => {
  it('takes the highest version across suites, by dpkg order (epochs and tildes), not by suite', async () => {
    const { parsed } = await lockSpec('suites', { packages: ['web', 'clock', 'epochy', 'same-both'] });
    expect(locked(parsed)).toEqual({
      web: `1.0-2 ${U}`,
      libweb: `2.1-1 ${U}`,
      clock: `1:2.0-1 ${U}`,
      epochy: `1:1.0-1 ${S}`,
      'same-both': `1.0-1 ${S}`, // the same version in both: the first source listed
    });
  });

  it('lets a source priority beat a higher version', async () => {
    const { parsed } = await lockSpec('priority', {
      sources: [{ suites: ['stable'], priority: 990 }, { suites: ['stable-updates'] }],
      packages: ['web', 'clock', 'epochy'],
    });
    expect(locked(parsed)).toEqual({ web: `1.0-1 ${S}`, libweb: `2.0-1 ${S}`, clock: `1:2.0~rc1-1 ${S}`, epochy: `1:1.0-1 ${S}` });
    expect(parsed.sources.map((s) => [s[2], s[4]])).toEqual([[S, '990'], [U, '500']]);
  });

  it('pins `name=version` (epochs and tildes too) and `name/suite`', async () => {
    const { parsed } = await lockSpec('pins', { packages: ['web=1.0-1', 'libweb/stable', 'clock=1:2.0~rc1-1', 'same-both/stable-updates'] });
    expect(locked(parsed)).toEqual({
      web: `1.0-1 ${S}`,
      libweb: `2.0-1 ${S}`, // pinned to stable, and that version satisfies web's libweb (>= 2.0)
      clock: `1:2.0~rc1-1 ${S}`,
      'same-both': `1.0-1 ${U}`, // the copy in the named suite, though stable has the same version
    });
    expect(parsed.header.get('Requested')).toBe('web=1.0-1 libweb/stable clock=1:2.0~rc1-1 same-both/stable-updates');
  });

  it('pins a dependency\'s version through `name=version`', async () => {
    const { parsed } = await lockSpec('pin-dep', { packages: ['web', 'libweb=2.0-1'] });
    expect(locked(parsed)).toEqual({ web: `1.0-2 ${U}`, libweb: `2.0-1 ${S}` });
  });
});

describe('rules through the whole pipeline: errors', () => {
  it('names close package names for an unknown one', async () => {
    const err = await lockFailure('unknown', { packages: ['libap1'] }, 'ERR_OTA_UNKNOWN_PACKAGE');
    expect(err.message).toMatch(/: unknown package libap1: no source has it for arm64$/);
    expect(err.message).toContain('locking ');
    expect(err.hint).toBe('close names: libapp1, libbase, libold, libweb');
  });

  it('explains an unsatisfiable dependency with its chain and the versions available', async () => {
    const err = await lockFailure('unsatisfiable', { packages: ['chain-top'] }, 'ERR_OTA_UNSATISFIABLE');
    expect(err.message).toMatch(/: cannot satisfy needs-new 1\.0-1 Depends: libold \(>= 2\.0\)$/);
    expect(err.details).toEqual([
      'needed by: (requested) chain-top -> chain-mid -> needs-new',
      'libold (>= 2.0): the candidate is 1.5-1 (versions available: 1.5-1, 1.0-1)',
    ]);
  });

  it('refuses two requested packages that conflict, naming both', async () => {
    const err = await lockFailure('conflict-pair', { packages: ['exim-lite', 'postfix-lite'] }, 'ERR_OTA_UNSATISFIABLE');
    expect(err.message).toMatch(/: postfix-lite 1\.0-1 conflicts with exim-lite 1\.0-1 \(postfix-lite conflicts with or breaks exim-lite\)$/);
    expect(err.details).toEqual(['postfix-lite: requested by the manifest', 'exim-lite: requested by the manifest']);
    expect(err.hint).toMatch(/remove one of them/);
  });

  it('refuses a requested virtual name with several providers, listing them', async () => {
    const err = await lockFailure('virtual-several', { packages: ['vpager'] }, 'ERR_OTA_UNKNOWN_PACKAGE');
    expect(err.message).toMatch(/: vpager is a virtual package provided by several packages: pager-imp, pager-opt, pager-std, pager-xtra$/);
  });

  it.each(['libweb=2.0-1', 'libweb/stable'])('holds the pin %s for dependencies too: a dependency it fails is an error, not an upgrade', async (pin) => {
    const err = await lockFailure(`pin-holds-${pin.replace(/[=/]/g, '-')}`, { packages: ['needs-libweb21', pin] }, 'ERR_OTA_UNSATISFIABLE');
    expect(err.message).toMatch(/: cannot satisfy needs-libweb21 1\.0-1 Depends: libweb \(>= 2\.1\)$/);
    expect(err.details).toEqual([
      'needed by: (requested) needs-libweb21',
      'libweb (>= 2.1): the candidate is 2.0-1 (versions available: 2.1-1, 2.0-1)',
    ]);
  });

  it('refuses pins that no source can honour, listing what there is', async () => {
    const byVersion = await lockFailure('pin-version', { packages: ['web=9.9-1'] }, 'ERR_OTA_UNKNOWN_PACKAGE');
    expect(byVersion.message).toMatch(/: web=9\.9-1 is not in any source \(available: 1\.0-2, 1\.0-1\)$/);
    const bySuite = await lockFailure('pin-suite', { packages: ['epochy/testing'] }, 'ERR_OTA_UNKNOWN_PACKAGE');
    expect(bySuite.message).toMatch(/: epochy is not in suite testing \(it is in: stable, stable-updates\)$/);
  });
});
