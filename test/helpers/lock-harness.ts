/**
 * Shared bits for the end-to-end tests of `ota lock` against fixture archives
 * (test/helpers/fixture-archive.ts): per-test workspaces with their own cache dir, manifests whose
 * source uri comes from `${OTA_FIXTURE_MIRROR}`, lockfile parsing and request-log slicing.
 *
 * @example
 * const ws = await workspace(tmp, 'basic');
 * await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['app'] });
 * const r = await lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(server.url) });
 */
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { parseStanzas, type Stanza } from '../../host-tools/apt/control.js';
import type { BuiltArchive, FixtureServer } from './fixture-archive.js';

/** The environment variable every test manifest takes its archive URL from. */
export const MIRROR_VAR = 'OTA_FIXTURE_MIRROR';

export function mirrorEnv(url: string): NodeJS.ProcessEnv {
  return { [MIRROR_VAR]: url };
}

export interface Workspace {
  dir: string;
  cacheDir: string;
  manifest: string;
  lockPath: string;
}

/** A fresh dir under `root` with its own cache dir; `image.yaml` / `image.lock` inside it. */
export async function workspace(root: string, name: string): Promise<Workspace> {
  const dir = await mkdtemp(path.join(root, `${name}-`));
  return { dir, cacheDir: path.join(dir, 'cache'), manifest: path.join(dir, 'image.yaml'), lockPath: path.join(dir, 'image.lock') };
}

export interface TestSource {
  /** Default `${OTA_FIXTURE_MIRROR}`. */
  uri?: string;
  suites: string[];
  /** Default `[main]`. */
  components?: string[];
  keyring: string;
  priority?: number;
}

export interface TestManifest {
  name?: string;
  arch?: string;
  variant?: 'minbase' | 'none';
  sources: TestSource[];
  packages: string[];
  exclude?: string[];
  /** Lines appended verbatim (comments, stray keys). */
  extra?: string[];
}

/** Manifest YAML as a person writes it (block style, the uri unquoted). */
export function manifestText(m: TestManifest): string {
  const lines = [`name: ${m.name ?? 'fixture-image'}`, `arch: ${m.arch ?? 'amd64'}`, `variant: ${m.variant ?? 'none'}`, 'sources:'];
  for (const s of m.sources) {
    lines.push(`  - uri: ${s.uri ?? `\${${MIRROR_VAR}}`}`);
    lines.push(`    suites: [${s.suites.join(', ')}]`);
    lines.push(`    components: [${(s.components ?? ['main']).join(', ')}]`);
    lines.push(`    keyring: ${s.keyring}`);
    if (s.priority !== undefined) lines.push(`    priority: ${s.priority}`);
  }
  lines.push('packages:', ...m.packages.map((p) => `  - ${p}`));
  if (m.exclude?.length) lines.push(`exclude: [${m.exclude.join(', ')}]`);
  lines.push(...(m.extra ?? []));
  return `${lines.join('\n')}\n`;
}

export async function writeManifest(file: string, m: TestManifest): Promise<string> {
  await writeFile(file, manifestText(m));
  return file;
}

export interface ParsedLock {
  header: Stanza;
  packages: Map<string, Stanza>;
  /** The header's Sources lines, split on spaces. */
  sources: string[][];
}

export function parseLockText(text: string): ParsedLock {
  const [header, ...rest] = parseStanzas(text);
  if (!header) throw new Error('empty lockfile');
  const packages = new Map(rest.map((s) => [s.get('Package')!, s]));
  const sources = (header.get('Sources') ?? '').split('\n').filter((l) => l !== '').map((l) => l.split(' '));
  return { header, packages, sources };
}

/** name -> version of every locked package. */
export function versions(lock: ParsedLock): Record<string, string> {
  return Object.fromEntries([...lock.packages].map(([n, s]) => [n, s.get('Version')!]));
}

/** Asserts that each locked package's Filename/Size/SHA256 are those of the .deb the fixture built. */
export function expectMatchesDebs(lock: ParsedLock, archive: BuiltArchive): void {
  expect(lock.packages.size).toBeGreaterThan(0);
  for (const [name, s] of lock.packages) {
    const deb = archive.debs.get(`${name}_${s.get('Version')}_${s.get('Architecture')}`);
    expect(deb, `${name} ${s.get('Version')} is a deb the fixture built`).toBeDefined();
    expect({ name, filename: s.get('Filename'), size: s.get('Size'), sha256: s.get('SHA256') }).toEqual({
      name,
      filename: deb!.filename,
      size: String(deb!.size),
      sha256: deb!.sha256,
    });
  }
}

/** The paths the server was asked for while `fn` ran. */
export async function requestsDuring(server: FixtureServer, fn: () => Promise<unknown>): Promise<string[]> {
  const start = server.requests.length;
  await fn();
  return server.requests.slice(start);
}

/** Names in a dir, sorted: to show that a failed run left no file (or temp file) behind. */
export async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}
