/**
 * Hermetic apt archive fixtures for tests of `ota lock` and friends: a real, signed archive in a
 * temp dir (Release/InRelease, Packages indexes, .debs built by dpkg-deb) served over HTTP on
 * 127.0.0.1 with failure injection. Nothing here touches the network or the host's apt/gpg state:
 * every key lives in its own GNUPGHOME under the caller's dir.
 *
 * @example
 * const key = await makeGpgKey(tmp);
 * await buildArchive(join(tmp, 'archive'), [
 *   { suite: 'stable', arches: ['amd64'], components: { main: [
 *     { name: 'hello', version: '1.0-1', depends: 'libhello1 (>= 1.0)' },
 *     { name: 'libhello1', version: '1.0-1', multiArch: 'same' },
 *   ] } },
 * ], { key });
 * const server = await serveDirectory(join(tmp, 'archive'));
 * // ... `deb [signed-by=${key.keyring}] ${server.url} stable main`
 * await server.close();
 * await disposeGpgKey(key);
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { run } from '../../common/exec.js';

// ---------------------------------------------------------------------------------------------
// Types

/** One binary package to build into the archive. Only `name` and `version` are required. */
export interface FixturePackage {
  name: string;
  version: string;
  /** Default: the suite's first arch. `all` packages appear in every arch's Packages file. */
  arch?: string;
  depends?: string;
  preDepends?: string;
  recommends?: string;
  suggests?: string;
  provides?: string;
  conflicts?: string;
  breaks?: string;
  replaces?: string;
  multiArch?: 'same' | 'foreign' | 'allowed';
  essential?: boolean;
  /** Default `optional`. */
  priority?: string;
  /** Default `misc`, or `<component>/misc` outside `main` (as Debian does). */
  section?: string;
  /** Source package name, optionally with a version: `foo` or `foo (1.2-1)`. Also names the pool dir. */
  source?: string;
  /** Synopsis on the first line, extended description on the following lines (indented for you). */
  description?: string;
  /** Absolute paths inside the package, e.g. `'/usr/bin/hello': '#!/bin/sh\n'`. */
  files?: Record<string, string | Buffer>;
  /**
   * File modes by path. Without one, a file is 0755 if it starts with `#!` or sits directly in a
   * bin/sbin dir, else 0644.
   */
  modes?: Record<string, number>;
  /** Symlinks inside the package: absolute path -> target (as given, relative or absolute). */
  symlinks?: Record<string, string>;
  /** Maintainer scripts; a missing `#!` line gets `#!/bin/sh` so dpkg can run them. */
  scripts?: Partial<Record<'preinst' | 'postinst' | 'prerm' | 'postrm' | 'config', string>>;
  /** Absolute paths of conffiles; each must be in `files`. */
  conffiles?: string[];
  /** The `triggers` control file (`interest /usr/share/x`, `activate-noawait ldconfig`, ...). */
  triggers?: string;
  /** `dpkg-deb -Z`; default xz. */
  compression?: 'xz' | 'gzip' | 'zstd' | 'none';
  /**
   * More control fields, written to the .deb's control file and the Packages stanza (before
   * Filename). A key naming a standard field (any case) replaces that field's value in place.
   */
  extraControl?: Record<string, string>;
}

/** One `dists/<suite>` tree. */
export interface FixtureSuite {
  suite: string;
  /** Default: same as `suite`. If it differs, `dists/<codename>` is a symlink to `dists/<suite>`. */
  codename?: string;
  /** e.g. `['amd64']` or `['arm64', 'armhf']`; never `all`. */
  arches: string[];
  /** component -> packages */
  components: Record<string, FixturePackage[]>;
  /** Release `Date`; default now (whole seconds). */
  date?: Date;
  validUntil?: Date;
  /** Which Packages files to publish; default `['xz', 'gz']`. */
  indexCompression?: Array<'xz' | 'gz' | 'none'>;
  /**
   * List the uncompressed `Packages` in Release even when it is not published, as the Debian
   * archive does: clients check the decompressed bytes against it. Default false (Release lists
   * only published files), but note that apt (2.6) then silently fetches no Packages at all: it
   * looks a target up by its uncompressed name. Set this for archives apt must read.
   */
  listUncompressed?: boolean;
  /** Release `Origin` and `Label`; default `Fixture`. */
  origin?: string;
  label?: string;
}

/** A throwaway signing key. `home` is its GNUPGHOME; `keyring` is what `gpgv --keyring` and apt's `signed-by` take. */
export interface GpgKey {
  home: string;
  fingerprint: string;
  /** Binary (`gpg --export`) public keyring. */
  keyring: string;
  /** Path of the ASCII-armored (`gpg --armor --export`) public key. */
  armored: string;
  /** The key's user id, `Name <slug@example.invalid>`. */
  uid: string;
}

/** One .deb in the pool. */
export interface BuiltDeb {
  /** Absolute path. */
  path: string;
  /** Relative to the archive root, as in Packages' `Filename`: `pool/main/h/hello/hello_1.0-1_amd64.deb`. */
  filename: string;
  size: number;
  sha256: string;
  /** The component whose pool holds it (the first one it was listed in). */
  component: string;
}

/** What `buildArchive` made. */
export interface BuiltArchive {
  root: string;
  /** Keyed by `${name}_${version}_${arch}` (version with its epoch, if any). */
  debs: Map<string, BuiltDeb>;
}

/** How a request that matches a `fail` rule is answered. */
export type FailureMode =
  /** Answer with this HTTP status and a short text body. */
  | number
  /** Reset the TCP connection (RST) without answering. */
  | 'reset'
  /** Send the headers with the full Content-Length and half the body, then close the connection. */
  | 'truncate'
  /** Never answer (until the server is closed): for client timeouts. */
  | 'hang';

/** A running fixture HTTP server. */
export interface FixtureServer {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  /** URL paths requested (without query), in order, failed ones included. */
  requests: string[];
  /** Range requests served (206 or 416), in order: what a resumed download asked for. */
  ranges: { path: string; start: number }[];
  /** The next `times` (default 1) requests whose path ends with `pathSuffix` fail as `how`. */
  fail(pathSuffix: string, how: FailureMode, times?: number): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Keys

/**
 * Makes a throwaway ed25519 signing key (no passphrase) in a fresh GNUPGHOME under `dir`, and
 * exports its public part as a binary keyring and an armored file next to that home.
 * The key's gpg-agent outlives this call; `disposeGpgKey` stops it.
 *
 * @example
 * const key = await makeGpgKey(tmp, 'Fixture Archive');
 * await run('verify', ['gpgv', '--keyring', key.keyring, inRelease]);
 */
export async function makeGpgKey(dir: string, name = 'Fixture Archive Signing Key'): Promise<GpgKey> {
  const keyDir = await mkdtemp(path.join(path.resolve(dir), 'gpg-'));
  const home = path.join(keyDir, 'home');
  await mkdir(home);
  await chmod(home, 0o700); // gpg warns about "unsafe permissions" otherwise
  const env = gpgEnv(home);

  // gpg-agent's sockets go in GNUPGHOME when /run/user/$UID is missing (as in containers), and a
  // unix socket path over 107 bytes makes gpg fail with a puzzling "agent not running".
  const { stdout: socket } = await run('find the gpg-agent socket', ['gpgconf', '--list-dirs', 'agent-socket'], { env });
  if (Buffer.byteLength(socket.trim()) + '.browser'.length > 107) {
    throw new Error(`makeGpgKey: the gpg-agent socket path ${socket.trim()} is too long for a unix socket; use a shorter dir`);
  }

  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'fixture';
  const uid = `${name} <${slug}@example.invalid>`;
  // An empty --passphrase with loopback pinentry is how gpg >= 2.1 makes an unprotected key in
  // batch mode; without it the agent would try to start a pinentry.
  const { stdout } = await run('make a fixture signing key', [
    'gpg', '--batch', '--no-tty', '--status-fd', '1', '--pinentry-mode', 'loopback', '--passphrase', '',
    '--quick-gen-key', uid, 'ed25519', 'sign', 'never',
  ], { env });
  const fingerprint = /^\[GNUPG:\] KEY_CREATED \S+ ([0-9A-F]{40})$/m.exec(stdout)?.[1];
  if (!fingerprint) throw new Error(`makeGpgKey: gpg reported no KEY_CREATED line:\n${stdout}`);

  const keyring = path.join(keyDir, 'keyring.gpg');
  const armored = path.join(keyDir, 'key.asc');
  const bin = await run('export the fixture key', ['gpg', '--batch', '--no-tty', '--export', fingerprint], { env, binary: true });
  await writeFile(keyring, bin.stdout);
  const asc = await run('export the fixture key (armored)', ['gpg', '--batch', '--no-tty', '--armor', '--export', fingerprint], { env });
  await writeFile(armored, asc.stdout);
  return { home, fingerprint, keyring, armored, uid };
}

/**
 * Stops the key's gpg-agent. Agents notice a deleted home within about a minute and exit on their
 * own, so this is tidiness, not correctness; call it before removing the dir.
 */
export async function disposeGpgKey(key: GpgKey): Promise<void> {
  await run('stop the fixture gpg-agent', ['gpgconf', '--kill', 'gpg-agent'], { env: gpgEnv(key.home), okCodes: [0, 1, 2] });
}

function gpgEnv(home: string): NodeJS.ProcessEnv {
  // LC_ALL=C keeps gpg's messages (shown in errors) and its status output stable.
  return { ...process.env, GNUPGHOME: home, LC_ALL: 'C' };
}

// ---------------------------------------------------------------------------------------------
// Archive

/** Fields in the order Debian's Packages files use (Description comes after Filename/Size/SHA256). */
const FIELD_ORDER = [
  'Package', 'Source', 'Version', 'Architecture', 'Multi-Arch', 'Essential', 'Priority', 'Section', 'Maintainer',
  'Installed-Size', 'Provides', 'Pre-Depends', 'Depends', 'Recommends', 'Suggests', 'Conflicts', 'Breaks', 'Replaces',
] as const;

const MAINTAINER = 'Fixture Maintainer <fixture@example.invalid>';

/** dpkg-deb stamps archive members and clamps file mtimes to this, so rebuilt debs are byte-identical. */
const SOURCE_DATE_EPOCH = '1686388018'; // 2023-06-10 09:06:58 UTC

interface DebPlan {
  key: string;
  pkg: FixturePackage;
  arch: string;
  component: string;
  filename: string;
  /** Control fields in order, Description excluded. */
  fields: Array<[string, string]>;
  description: string;
  canonical: string;
}

/**
 * Builds a signed apt archive under `root`: `.debs` in `pool/`, and for each suite
 * `dists/<suite>/{Release,InRelease,Release.gpg}` and `<component>/binary-<arch>/Packages{,.xz,.gz}`.
 * Scratch files go in `root/.fixture-tmp-*` and are removed before returning.
 *
 * `signing` (default `inrelease` with a key, else `none`): `inrelease` writes InRelease,
 * `release-gpg` writes a detached armored Release.gpg, `both` writes both, `none` neither. Release
 * is always written.
 *
 * A package that appears in several suites (same name, version and arch) is built once and must be
 * described identically each time.
 */
export async function buildArchive(
  root: string,
  suites: FixtureSuite[],
  options: { key?: GpgKey; signing?: 'inrelease' | 'none' | 'release-gpg' | 'both' } = {},
): Promise<BuiltArchive> {
  root = path.resolve(root);
  const signing = options.signing ?? (options.key ? 'inrelease' : 'none');
  if (signing !== 'none' && !options.key) throw new Error(`buildArchive: signing '${signing}' needs a key`);
  const seenSuites = new Set<string>();
  for (const s of suites) {
    if (seenSuites.has(s.suite)) throw new Error(`buildArchive: suite ${s.suite} given twice`);
    seenSuites.add(s.suite);
    if (s.arches.length === 0 || s.arches.includes('all')) {
      throw new Error(`buildArchive: suite ${s.suite} needs at least one real arch (not 'all') in arches`);
    }
  }

  // Plan every deb first so duplicates across suites are found before any work is done.
  const plans = new Map<string, DebPlan>();
  // suite -> component -> arch -> plan keys, in Packages order
  const indexes = new Map<string, Map<string, Map<string, string[]>>>();
  for (const s of suites) {
    const byComponent = new Map<string, Map<string, string[]>>();
    indexes.set(s.suite, byComponent);
    for (const [component, pkgs] of Object.entries(s.components)) {
      const byArch = new Map<string, string[]>(s.arches.map((a) => [a, []]));
      byComponent.set(component, byArch);
      const inComponent = new Set<string>();
      for (const pkg of pkgs) {
        const plan = planDeb(pkg, s, component);
        if (inComponent.has(plan.key)) throw new Error(`buildArchive: ${plan.key} given twice in ${s.suite}/${component}`);
        inComponent.add(plan.key);
        const prior = plans.get(plan.key);
        if (prior && prior.canonical !== plan.canonical) {
          throw new Error(`buildArchive: ${plan.key} is described differently in two places; one pool file cannot hold both`);
        }
        if (!prior) plans.set(plan.key, plan);
        for (const arch of plan.arch === 'all' ? s.arches : [plan.arch]) byArch.get(arch)!.push(plan.key);
      }
      // Real archives list packages by name; a stable sort keeps the given order of versions.
      const key = (k: string) => plans.get(k)!.pkg.name;
      for (const list of byArch.values()) list.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    }
  }

  await mkdir(root, { recursive: true });
  const tmp = await mkdtemp(path.join(root, '.fixture-tmp-'));
  const debs = new Map<string, BuiltDeb>();
  try {
    // dpkg-deb is quick (~10 ms for a small package) but forks tar and a compressor; a few at a
    // time keeps a big fixture fast without swamping small CI machines.
    const limit = Math.max(1, Math.min(4, availableParallelism()));
    const planList = [...plans.values()];
    const built = await mapLimit(planList, limit, (plan, i) => buildDeb(plan, root, path.join(tmp, String(i))));
    planList.forEach((plan, i) => debs.set(plan.key, built[i]!));

    for (const s of suites) {
      await writeSuite(root, s, indexes.get(s.suite)!, plans, debs, signing, options.key);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { root, debs };
}

function planDeb(pkg: FixturePackage, suite: FixtureSuite, component: string): DebPlan {
  const arch = pkg.arch ?? suite.arches[0]!;
  if (arch !== 'all' && !suite.arches.includes(arch)) {
    throw new Error(`buildArchive: ${pkg.name} ${pkg.version} is for ${arch}, which suite ${suite.suite} does not carry`);
  }
  const key = `${pkg.name}_${pkg.version}_${arch}`;
  const upstream = pkg.version.replace(/^\d+:/, ''); // pool file names drop the epoch
  const sourceName = (pkg.source ?? pkg.name).replace(/\s*\(.*\)\s*$/, '');
  // Debian's pool splits lib* sources by four letters (pool/main/libc/libcap2), the rest by one.
  const prefix = sourceName.startsWith('lib') && sourceName.length > 3 ? sourceName.slice(0, 4) : sourceName.slice(0, 1);
  const filename = `pool/${component}/${prefix}/${sourceName}/${pkg.name}_${upstream}_${arch}.deb`;

  const files = Object.entries(pkg.files ?? {});
  const dirs = new Set<string>();
  for (const p of [...files.map(([p]) => p), ...Object.keys(pkg.symlinks ?? {})]) {
    for (let d = path.posix.dirname(normalizeInside(p, pkg)); d !== '/'; d = path.posix.dirname(d)) dirs.add(d);
  }
  // Like dpkg-gencontrol: KiB per file rounded up, 1 per directory and symlink.
  const installedSize =
    files.reduce((n, [, c]) => n + Math.ceil(Buffer.byteLength(c) / 1024), 0) + dirs.size + Object.keys(pkg.symlinks ?? {}).length;

  const values: Record<string, string | undefined> = {
    Package: pkg.name,
    Source: pkg.source,
    Version: pkg.version,
    Architecture: arch,
    'Multi-Arch': pkg.multiArch,
    Essential: pkg.essential ? 'yes' : undefined,
    Priority: pkg.priority ?? 'optional',
    Section: pkg.section ?? (component === 'main' ? 'misc' : `${component}/misc`),
    Maintainer: MAINTAINER,
    'Installed-Size': String(Math.max(installedSize, 1)),
    Provides: pkg.provides,
    'Pre-Depends': pkg.preDepends,
    Depends: pkg.depends,
    Recommends: pkg.recommends,
    Suggests: pkg.suggests,
    Conflicts: pkg.conflicts,
    Breaks: pkg.breaks,
    Replaces: pkg.replaces,
  };
  const fields: Array<[string, string]> = [];
  for (const f of FIELD_ORDER) {
    const v = values[f];
    if (v !== undefined && v !== '') fields.push([f, v]);
  }
  let description = formatDescription(pkg.description ?? `${pkg.name} fixture package\nBuilt by test/helpers/fixture-archive.ts for tests.`);
  for (const [k, v] of Object.entries(pkg.extraControl ?? {})) {
    if (k.toLowerCase() === 'description') {
      description = formatDescription(v);
      continue;
    }
    const at = fields.findIndex(([f]) => f.toLowerCase() === k.toLowerCase());
    if (at >= 0) fields[at] = [fields[at]![0], v];
    else fields.push([k, v]);
  }
  return { key, pkg, arch, component, filename, fields, description, canonical: canonicalJson({ ...pkg, arch }) };
}

/** First line is the synopsis; later lines get the one-space indent, blank ones become ` .`. */
function formatDescription(text: string): string {
  const [first, ...rest] = text.replace(/\n+$/, '').split('\n');
  return [first ?? '', ...rest.map((l) => (l.trim() === '' ? ' .' : ` ${l}`))].join('\n');
}

function normalizeInside(p: string, pkg: FixturePackage): string {
  const n = path.posix.normalize(p);
  if (!p.startsWith('/') || n === '/' || n.split('/')[1] === 'DEBIAN') {
    throw new Error(`buildArchive: ${pkg.name}: file path ${JSON.stringify(p)} must be absolute and not / or under /DEBIAN`);
  }
  return n;
}

const BIN_DIRS = new Set(['/bin', '/sbin', '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/usr/games']);

async function buildDeb(plan: DebPlan, root: string, stage: string): Promise<BuiltDeb> {
  const { pkg } = plan;
  // mkdtemp-style 0700 dirs would end up in data.tar and dpkg-deb rejects a DEBIAN dir outside
  // 0755..0775, so every dir gets an explicit mode rather than whatever the umask gives.
  const mkdirs = async (dir: string) => {
    const made = await mkdir(dir, { recursive: true });
    if (made === undefined) return;
    for (let d = dir; d.length >= made.length; d = path.dirname(d)) await chmod(d, 0o755);
  };
  await mkdirs(path.join(stage, 'DEBIAN'));
  await chmod(stage, 0o755);

  const md5sums: string[] = [];
  for (const [p, content] of Object.entries(pkg.files ?? {})) {
    const rel = normalizeInside(p, pkg).slice(1);
    const dest = path.join(stage, rel);
    await mkdirs(path.dirname(dest));
    await writeFile(dest, content);
    const mode = pkg.modes?.[p] ?? (startsWithShebang(content) || BIN_DIRS.has(path.posix.dirname('/' + rel)) ? 0o755 : 0o644);
    await chmod(dest, mode);
    md5sums.push(`${createHash('md5').update(content).digest('hex')}  ${rel}`);
  }
  for (const [p, target] of Object.entries(pkg.symlinks ?? {})) {
    const dest = path.join(stage, normalizeInside(p, pkg).slice(1));
    await mkdirs(path.dirname(dest));
    await symlink(target, dest);
  }

  const control = [...plan.fields, ['Description', plan.description]].map(([k, v]) => `${k}: ${v}\n`).join('');
  const debian = path.join(stage, 'DEBIAN');
  await writeControlFile(path.join(debian, 'control'), control, 0o644);
  // md5sums is what dh_md5sums would add; dpkg --verify and some image tools read it.
  if (md5sums.length > 0) await writeControlFile(path.join(debian, 'md5sums'), md5sums.sort().join('\n') + '\n', 0o644);
  if (pkg.conffiles?.length) await writeControlFile(path.join(debian, 'conffiles'), pkg.conffiles.join('\n') + '\n', 0o644);
  if (pkg.triggers) await writeControlFile(path.join(debian, 'triggers'), pkg.triggers, 0o644);
  for (const [name, body] of Object.entries(pkg.scripts ?? {})) {
    if (body === undefined) continue;
    await writeControlFile(path.join(debian, name), body.startsWith('#!') ? body : `#!/bin/sh\n${body}`, 0o755);
  }

  const out = path.join(root, plan.filename);
  await mkdir(path.dirname(out), { recursive: true });
  await run(`build fixture package ${plan.key}`, [
    'dpkg-deb', '--root-owner-group', `-Z${pkg.compression ?? 'xz'}`, '--build', stage, out,
  ], { env: { ...process.env, SOURCE_DATE_EPOCH, LC_ALL: 'C' } });
  const bytes = await readFile(out);
  await rm(stage, { recursive: true, force: true }); // big fixtures would otherwise double their disk use
  return { path: out, filename: plan.filename, size: bytes.length, sha256: sha256(bytes), component: plan.component };
}

async function writeControlFile(file: string, content: string, mode: number): Promise<void> {
  await writeFile(file, content);
  await chmod(file, mode);
}

function startsWithShebang(content: string | Buffer): boolean {
  return typeof content === 'string' ? content.startsWith('#!') : content.subarray(0, 2).toString('latin1') === '#!';
}

async function writeSuite(
  root: string,
  s: FixtureSuite,
  byComponent: Map<string, Map<string, string[]>>,
  plans: Map<string, DebPlan>,
  debs: Map<string, BuiltDeb>,
  signing: 'inrelease' | 'none' | 'release-gpg' | 'both',
  key: GpgKey | undefined,
): Promise<void> {
  const distDir = path.join(root, 'dists', s.suite);
  const compressions = s.indexCompression ?? ['xz', 'gz'];
  const listed: Array<{ rel: string; size: number; sha256: string }> = [];

  for (const [component, byArch] of byComponent) {
    for (const [arch, keys] of byArch) {
      const rel = `${component}/binary-${arch}/Packages`;
      await mkdir(path.join(distDir, component, `binary-${arch}`), { recursive: true });
      // Each stanza ends with a blank line, as apt-ftparchive writes them.
      const text = keys.map((k) => stanza(plans.get(k)!, debs.get(k)!) + '\n').join('');
      const plain = Buffer.from(text);
      const variants: Array<[string, Buffer]> = [];
      if (compressions.includes('none')) variants.push(['', plain]);
      if (compressions.includes('xz')) {
        const xz = await run(`compress ${s.suite}/${rel}`, ['xz', '--compress', '--stdout', '-6', '--threads=1'], { input: plain, binary: true });
        variants.push(['.xz', xz.stdout]);
      }
      if (compressions.includes('gz')) variants.push(['.gz', gzipSync(plain, { level: 9 })]); // zlib's gzip has no name or mtime: stable bytes
      for (const [ext, bytes] of variants) {
        await writeFile(path.join(distDir, rel + ext), bytes);
        listed.push({ rel: rel + ext, size: bytes.length, sha256: sha256(bytes) });
      }
      if (s.listUncompressed && !compressions.includes('none')) listed.push({ rel, size: plain.length, sha256: sha256(plain) });
    }
  }
  listed.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));

  const date = s.date ?? new Date(Math.floor(Date.now() / 1000) * 1000);
  const release = [
    `Origin: ${s.origin ?? 'Fixture'}`,
    `Label: ${s.label ?? 'Fixture'}`,
    `Suite: ${s.suite}`,
    `Codename: ${s.codename ?? s.suite}`,
    `Date: ${rfc2822(date)}`,
    ...(s.validUntil ? [`Valid-Until: ${rfc2822(s.validUntil)}`] : []),
    `Architectures: ${s.arches.join(' ')}`,
    `Components: ${[...byComponent.keys()].join(' ')}`,
    `Description: fixture suite ${s.suite}`,
    'SHA256:',
    // apt-ftparchive's layout: the size right-aligned in 16 columns.
    ...listed.map((f) => ` ${f.sha256} ${String(f.size).padStart(16)} ${f.rel}`),
  ].join('\n') + '\n';
  await mkdir(distDir, { recursive: true });
  const releasePath = path.join(distDir, 'Release');
  await writeFile(releasePath, release);

  if (key && (signing === 'inrelease' || signing === 'both')) {
    await gpgSign(key, ['--clearsign', '--output', path.join(distDir, 'InRelease'), releasePath], `sign ${s.suite}/InRelease`);
  }
  if (key && (signing === 'release-gpg' || signing === 'both')) {
    await gpgSign(key, ['--detach-sign', '--armor', '--output', path.join(distDir, 'Release.gpg'), releasePath], `sign ${s.suite}/Release.gpg`);
  }

  if (s.codename && s.codename !== s.suite) {
    const link = path.join(root, 'dists', s.codename);
    // Like dists/stable -> bookworm; a suite of that name, if any, wins.
    if (!(await exists(link))) await symlink(s.suite, link);
  }
}

async function gpgSign(key: GpgKey, args: string[], description: string): Promise<void> {
  await run(description, [
    'gpg', '--batch', '--no-tty', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '',
    '--local-user', key.fingerprint, '--digest-algo', 'SHA512', ...args,
  ], { env: gpgEnv(key.home) });
}

function stanza(plan: DebPlan, deb: { filename: string; size: number; sha256: string }): string {
  const fields: Array<[string, string]> = [
    ...plan.fields,
    ['Filename', deb.filename],
    ['Size', String(deb.size)],
    ['SHA256', deb.sha256],
    ['Description', plan.description],
  ];
  return fields.map(([k, v]) => `${k}: ${v}\n`).join('');
}

/** `Sat, 10 Jun 2023 09:06:58 UTC`, the form Debian's Release files use. */
function rfc2822(d: Date): string {
  return d.toUTCString().replace(/GMT$/, 'UTC');
}

function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** JSON with sorted keys and Buffers as base64, to compare two package descriptions. */
function canonicalJson(v: unknown): string {
  if (Buffer.isBuffer(v)) return JSON.stringify({ $buffer: v.toString('base64') });
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Runs `fn` over `items` at most `limit` at a time; on a failure, starts nothing new and rethrows it once all running calls end. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (e) {
        failed ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failed.error;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Server

/**
 * Serves `root` read-only over HTTP on 127.0.0.1 (a free port), GET and HEAD only, and records
 * every requested path. Paths outside `root`, directories and missing files are 404.
 *
 * @example
 * const server = await serveDirectory(archive.root);
 * server.fail('Packages.xz', 503, 2); // the next two requests for any Packages.xz get a 503
 * server.fail('InRelease', 'reset');   // the next InRelease request has its connection reset
 */
export async function serveDirectory(root: string): Promise<FixtureServer> {
  root = path.resolve(root);
  const requests: string[] = [];
  const ranges: { path: string; start: number }[] = [];
  const rules: Array<{ suffix: string; how: FailureMode; remaining: number }> = [];

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((e: unknown) => {
      // A test helper must not take the test runner down; answer 500 and let the test see it.
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`fixture server error: ${(e as Error).message}\n`);
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // The path as sent (no WHATWG normalization of `..`), so tests see what the client asked for.
    const pathname = (req.url ?? '/').replace(/[?#].*$/s, '');
    requests.push(pathname);
    const rule = rules.find((r) => r.remaining > 0 && pathname.endsWith(r.suffix));
    if (rule) rule.remaining--;
    if (rule && rule.how === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    if (rule && rule.how === 'hang') return; // closeAllConnections in close() ends it
    if (rule && typeof rule.how === 'number') {
      res.writeHead(rule.how, { 'content-type': 'text/plain' });
      res.end(`injected failure: HTTP ${rule.how}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('method not allowed\n');
      return;
    }

    let file: string | undefined;
    try {
      const candidate = path.resolve(root, '.' + decodeURIComponent(pathname));
      if (candidate === root || candidate.startsWith(root + path.sep)) file = candidate;
    } catch {
      // a malformed %-escape: treat as missing
    }
    const info = file ? await stat(file).catch(() => undefined) : undefined;
    if (!file || !info?.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(info.size), 'last-modified': info.mtime.toUTCString() };
    if (req.method === 'HEAD') {
      res.writeHead(200, headers);
      res.end();
      return;
    }
    if (rule && rule.how === 'truncate') {
      const bytes = await readFile(file);
      res.writeHead(200, headers);
      res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => req.socket.destroy());
      return;
    }
    // Range requests (`bytes=N-`), as download resumption sends them.
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      ranges.push({ path: pathname, start });
      if (start >= info.size) {
        res.writeHead(416, { 'content-range': `bytes */${info.size}` });
        res.end();
        return;
      }
      res.writeHead(206, { ...headers, 'content-length': String(info.size - start), 'content-range': `bytes ${start}-${info.size - 1}/${info.size}` });
      createReadStream(file, { start }).on('error', () => req.socket.destroy()).pipe(res);
      return;
    }
    res.writeHead(200, headers);
    createReadStream(file).on('error', () => req.socket.destroy()).pipe(res);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    ranges,
    fail(pathSuffix, how, times = 1) {
      rules.push({ suffix: pathSuffix, how, remaining: times });
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // keep-alive and hung connections would hold close() open
      });
      return closed;
    },
  };
}
