import { OtaError } from '../../common/errors.js';
import { ControlSyntaxError, formatStanzas, parseStanzas } from '../apt/control.js';
import { checkLockSyntax } from './lock-syntax.js';
import { PackagesIndex } from '../apt/packages-index.js';
import { compareVersions } from '../apt/version.js';
import type { Manifest } from '../manifest/schema.js';
import { Universe, type Candidate } from './universe.js';

/**
 * The lockfile: a header stanza, then one Packages-format stanza per package sorted by name.
 * Being Packages-format, it is read back with the same index and resolver code that reads an
 * archive (see `readLock`), and any Debian tool can read it. Nothing in it depends on when or
 * where it was written: same inputs, same bytes.
 *
 * @example
 * Lockfile-Version: 1
 * Image: gateway
 * Architecture: arm64
 * ...
 *
 * Package: bash
 * Version: 5.2.15-2+b7
 * ...
 */
export const LOCKFILE_VERSION = '1';

export interface LockSource {
  /** As the manifest wrote it: `host`, a URL or a `${VAR}` template. */
  spec: string;
  uri: string;
  suite: string;
  components: string[];
  priority: number;
  inReleaseSha256: string;
  date: string;
}

export interface LockHeader {
  version: string;
  image: string;
  architecture: string;
  variant: string;
  recommends: boolean;
  manifestSha256: string;
  requested: string[];
  exclude: string[];
  /**
   * The board the image is for, the SHA256 of its board.yaml, the packages it adds (kernel,
   * bootloader, firmware, initramfs tools), and the archive components it asked for besides the
   * sources' own (`Board-Components`; the Sources lines show which suites they were read from).
   * A lock from before Board-Components reads with none.
   */
  board?: { name: string; sha256: string; packages: string[]; components: string[] };
  /**
   * For variant minbase, the archive's Essential and Priority: required packages that seeded the
   * resolution (`Variant-Seed`), so a check can tell a deleted one from one the archive lacks.
   * Undefined in a lock from before the field (and for variant none).
   */
  seed?: string[];
  /**
   * The manifest's local debs (`Local-Debs`), as it wrote them: paths relative to the folder of
   * the manifest and its lock. Each is one package stanza with Origin-Uri `local`. Undefined or empty for most.
   */
  localDebs?: string[];
  sources: LockSource[];
}

export interface Lock {
  header: LockHeader;
  /** Locked packages as candidates of a universe built from the lock itself. */
  packages: Map<string, Candidate>;
  universe: Universe;
}

const PACKAGE_FIELDS: [keyof Candidate, string][] = [
  ['priority', 'Priority'],
  ['section', 'Section'],
  ['source', 'Source'],
  ['preDepends', 'Pre-Depends'],
  ['depends', 'Depends'],
  ['recommends', 'Recommends'],
  ['provides', 'Provides'],
  ['conflicts', 'Conflicts'],
  ['breaks', 'Breaks'],
  ['replaces', 'Replaces'],
];

export function formatLock(header: LockHeader, packages: Iterable<Candidate>): string {
  const head: [string, string][] = [
    ['Lockfile-Version', header.version],
    ['Image', header.image],
    ['Architecture', header.architecture],
    ['Variant', header.variant],
    ['Recommends', header.recommends ? 'yes' : 'no'],
    ['Manifest-SHA256', header.manifestSha256],
  ];
  if (header.requested.length > 0) head.push(['Requested', header.requested.join(' ')]);
  if (header.exclude.length > 0) head.push(['Exclude', header.exclude.join(' ')]);
  if (header.seed) head.push(['Variant-Seed', [...header.seed].sort().join(' ')]);
  if (header.board) {
    head.push(['Board', header.board.name], ['Board-SHA256', header.board.sha256], ['Board-Packages', header.board.packages.join(' ')]);
    // Only when there are some: a board without firmware.components locks to the same bytes as before the field existed.
    if (header.board.components.length > 0) head.push(['Board-Components', header.board.components.join(' ')]);
  }
  // Only when there are some: a manifest without local debs locks to the same bytes as before the field existed.
  if (header.localDebs?.length) head.push(['Local-Debs', header.localDebs.join(' ')]);
  head.push([
    'Sources',
    ['', ...header.sources.map((s) => [s.spec, s.uri, s.suite, s.components.join(',') || '-', String(s.priority), s.inReleaseSha256, s.date].join(' '))].join('\n'),
  ]);
  const sorted = [...packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const stanzas = sorted.map((c) => {
    const s: [string, string][] = [['Package', c.name], ['Version', c.version], ['Architecture', c.architecture]];
    if (c.multiArch) s.push(['Multi-Arch', c.multiArch]);
    if (c.essential) s.push(['Essential', 'yes']);
    for (const [key, field] of PACKAGE_FIELDS) {
      const v = c[key];
      if (typeof v === 'string' && v !== '') s.push([field, v.replace(/\n\s*/g, ' ')]);
    }
    s.push(['Filename', c.filename], ['Size', String(c.size)], ['SHA256', c.sha256]);
    s.push(['Origin-Uri', c.origin.uri], ['Origin-Suite', c.origin.suite], ['Origin-Component', c.origin.component || '-']);
    return s;
  });
  return formatStanzas([head, ...stanzas]);
}

export function headerFor(manifest: Manifest, manifestSha256: string, sources: LockSource[], more: Pick<LockHeader, 'board' | 'seed'> = {}): LockHeader {
  return {
    ...(more.board ? { board: more.board } : {}),
    ...(more.seed ? { seed: more.seed } : {}),
    version: LOCKFILE_VERSION,
    image: manifest.name,
    architecture: manifest.arch,
    variant: manifest.variant,
    recommends: manifest.recommends,
    manifestSha256,
    requested: manifest.packages,
    exclude: manifest.exclude,
    localDebs: manifest.debs,
    sources,
  };
}

/**
 * Parses a lockfile; `where` names it in errors. Every field is checked first (lock-syntax.ts):
 * a lock that is not what `ota lock` writes is refused whole, with exit 2.
 */
export function readLock(text: string, where: string): Lock {
  let stanzas;
  try {
    stanzas = parseStanzas(text, { strict: true });
  } catch (e) {
    if (e instanceof ControlSyntaxError) {
      throw new OtaError('ERR_OTA_LOCKFILE', `${where}:${e.line}: ${e.reason}`, { hint: 'fix it by hand, or regenerate it with `ota lock --update`' });
    }
    throw e;
  }
  const h = stanzas[0];
  if (!h || !h.has('Lockfile-Version')) {
    throw new OtaError('ERR_OTA_LOCKFILE', `${where} is not an ota lockfile (no Lockfile-Version header)`, {
      hint: 'ota does not overwrite it: check the path, or remove the file and run `ota lock <manifest>`',
    });
  }
  const version = h.get('Lockfile-Version')!;
  if (version !== LOCKFILE_VERSION) {
    throw new OtaError('ERR_OTA_LOCKFILE', `${where} has lockfile version ${version.slice(0, 40)}; this ota reads version ${LOCKFILE_VERSION}`, {
      hint: 'regenerate it with `ota lock --update`',
    });
  }
  checkLockSyntax(stanzas, where);
  const header = headerOf(h);
  // The package stanzas are Packages-format: index them like an archive's index, one origin per
  // stanza. They are indexed as written back from the checked stanzas, so the index reads exactly
  // what was checked.
  const index = PackagesIndex.fromText(formatStanzas(stanzas.slice(1)));
  const universe = new Universe(header.architecture, [{ index, origin: { uri: '', suite: '', component: '', priority: 500, order: 0 } }]);
  const packages = new Map<string, Candidate>();
  for (const stanza of stanzas.slice(1)) {
    const name = stanza.get('Package')!;
    if (packages.has(name)) throw new OtaError('ERR_OTA_LOCKFILE', `${where}: package ${name} appears ${index.records(name).length} times`);
    const c = universe.versions(name)[0]!;
    c.origin = {
      uri: stanza.get('Origin-Uri')!,
      suite: stanza.get('Origin-Suite')!,
      component: stanza.get('Origin-Component') === '-' ? '' : stanza.get('Origin-Component')!,
      priority: 500,
      order: 0,
    };
    packages.set(name, c);
  }
  return { header, packages, universe };
}

/** The header of a lock whose fields checkLockSyntax accepted. */
function headerOf(h: Map<string, string>): LockHeader {
  const sources = h
    .get('Sources')!
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const [spec, uri, suite, comps, prio, sha, date] = line.trim().split(' ') as [string, string, string, string, string, string, string];
      return { spec, uri, suite, components: comps === '-' ? [] : comps.split(','), priority: Number(prio), inReleaseSha256: sha, date };
    });
  return {
    version: h.get('Lockfile-Version')!,
    image: h.get('Image')!,
    architecture: h.get('Architecture')!,
    variant: h.get('Variant')!,
    recommends: h.get('Recommends') === 'yes',
    manifestSha256: h.get('Manifest-SHA256')!,
    requested: words(h.get('Requested')),
    exclude: words(h.get('Exclude')),
    localDebs: words(h.get('Local-Debs')),
    ...(h.has('Variant-Seed') ? { seed: words(h.get('Variant-Seed')) } : {}),
    ...(h.has('Board') ? { board: { name: h.get('Board')!, sha256: h.get('Board-SHA256')!, packages: words(h.get('Board-Packages')), components: words(h.get('Board-Components')) } } : {}),
    sources,
  };
}

const words = (v: string | undefined): string[] => (v ?? '').split(/\s+/).filter(Boolean);

/** What changed between two locks, for `ota lock --update`. */
export interface LockDiff {
  added: { name: string; version: string }[];
  removed: { name: string; version: string }[];
  changed: { name: string; from: string; to: string; direction: 'upgrade' | 'downgrade' | 'rebuild' }[];
}

export function diffLocks(before: Map<string, { version: string; sha256: string }>, after: Map<string, { version: string; sha256: string }>): LockDiff {
  const diff: LockDiff = { added: [], removed: [], changed: [] };
  for (const [name, a] of after) {
    const b = before.get(name);
    if (!b) diff.added.push({ name, version: a.version });
    else if (b.version !== a.version || b.sha256 !== a.sha256) {
      const cmp = compareVersions(a.version, b.version);
      diff.changed.push({ name, from: b.version, to: a.version, direction: cmp > 0 ? 'upgrade' : cmp < 0 ? 'downgrade' : 'rebuild' });
    }
  }
  for (const [name, b] of before) if (!after.has(name)) diff.removed.push({ name, version: b.version });
  const byName = (x: { name: string }, y: { name: string }) => (x.name < y.name ? -1 : 1);
  diff.added.sort(byName);
  diff.removed.sort(byName);
  diff.changed.sort(byName);
  return diff;
}

export function formatDiff(diff: LockDiff): string[] {
  const lines: string[] = [];
  for (const a of diff.added) lines.push(`+ ${a.name} ${a.version}`);
  for (const r of diff.removed) lines.push(`- ${r.name} ${r.version}`);
  for (const c of diff.changed) lines.push(`~ ${c.name} ${c.from} -> ${c.to}${c.direction === 'upgrade' ? '' : ` (${c.direction})`}`);
  return lines;
}
