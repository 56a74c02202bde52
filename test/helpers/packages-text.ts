/**
 * In-memory Packages indices for unit tests of the index, the universe and the resolver: plain
 * objects in, Packages-format text (or a ready Universe) out. Nothing touches disk or network, and
 * no real mirror is named: origins default to a made-up `http://mirror.example/debian`.
 *
 * @example
 * const u = universe([
 *   { suite: 'stable', packages: [{ name: 'a', depends: 'b' }, { name: 'b' }] },
 *   { suite: 'backports', priority: 100, packages: [{ name: 'b', version: '2.0' }] },
 * ]);
 * resolve(u, { roots: [{ name: 'a' }], variant: 'none', exclude: [], recommends: false });
 */
import { createHash } from 'node:crypto';
import { PackagesIndex } from '../../host-tools/apt/packages-index.js';
import { Universe, type Origin } from '../../host-tools/lock/universe.js';

/** One binary package stanza. Only `name` is required; `version` defaults to `1.0`, `arch` to `amd64`. */
export interface Pkg {
  name: string;
  version?: string;
  arch?: string;
  multiArch?: 'same' | 'foreign' | 'allowed' | 'no';
  essential?: boolean;
  priority?: string;
  section?: string;
  source?: string;
  preDepends?: string;
  depends?: string;
  recommends?: string;
  suggests?: string;
  provides?: string;
  conflicts?: string;
  breaks?: string;
  replaces?: string;
  filename?: string;
  size?: number;
  sha256?: string;
  /** More fields, written after the others in this order. */
  extra?: Record<string, string>;
}

/** A value with newlines becomes continuation lines, each indented by one space. */
function field(key: string, value: string): string {
  const [first, ...rest] = value.split('\n');
  return [`${key}: ${first}`, ...rest.map((r) => ` ${r}`)].join('\n');
}

/** One stanza, without a trailing newline. */
export function stanza(p: Pkg): string {
  const version = p.version ?? '1.0';
  const arch = p.arch ?? 'amd64';
  const fileVersion = version.replace(/^\d+:/, '');
  const lines: string[] = [field('Package', p.name)];
  if (p.source !== undefined) lines.push(field('Source', p.source));
  lines.push(field('Version', version));
  if (p.essential) lines.push(field('Essential', 'yes'));
  if (p.priority !== undefined) lines.push(field('Priority', p.priority));
  if (p.section !== undefined) lines.push(field('Section', p.section));
  lines.push(field('Architecture', arch));
  if (p.multiArch !== undefined) lines.push(field('Multi-Arch', p.multiArch));
  const relations: [string, string | undefined][] = [
    ['Replaces', p.replaces],
    ['Provides', p.provides],
    ['Pre-Depends', p.preDepends],
    ['Depends', p.depends],
    ['Recommends', p.recommends],
    ['Suggests', p.suggests],
    ['Breaks', p.breaks],
    ['Conflicts', p.conflicts],
  ];
  for (const [k, v] of relations) if (v !== undefined) lines.push(field(k, v));
  lines.push(field('Description', `${p.name} for tests\nA made-up package.\n.\nNothing to see here.`));
  lines.push(field('Filename', p.filename ?? `pool/main/${p.name[0]}/${p.name}/${p.name}_${fileVersion}_${arch}.deb`));
  lines.push(field('Size', String(p.size ?? 1000 + p.name.length)));
  lines.push(field('SHA256', p.sha256 ?? createHash('sha256').update(`${p.name} ${version} ${arch}`).digest('hex')));
  for (const [k, v] of Object.entries(p.extra ?? {})) lines.push(field(k, v));
  return lines.join('\n');
}

/** A Packages file: stanzas separated by blank lines, ending with a newline. */
export function packagesText(pkgs: Pkg[]): string {
  return pkgs.map(stanza).join('\n\n') + (pkgs.length > 0 ? '\n' : '');
}

export function packagesIndex(pkgs: Pkg[]): PackagesIndex {
  return PackagesIndex.fromText(packagesText(pkgs));
}

/** One source of the universe: a suite/component with its apt pin priority (default 500). */
export interface TestSource {
  packages: Pkg[];
  suite?: string;
  component?: string;
  priority?: number;
  uri?: string;
}

/**
 * A Universe over one or more in-memory indices, in the order given (which is the sources' `order`).
 * A bare package list is one `stable`/`main` source at priority 500.
 */
export function universe(sources: TestSource[] | Pkg[], arch = 'amd64'): Universe {
  const list: TestSource[] = sources.length > 0 && 'packages' in sources[0]! ? (sources as TestSource[]) : [{ packages: sources as Pkg[] }];
  return new Universe(
    arch,
    list.map((s, order) => {
      const origin: Origin = {
        uri: s.uri ?? 'http://mirror.example/debian',
        suite: s.suite ?? 'stable',
        component: s.component ?? 'main',
        priority: s.priority ?? 500,
        order,
      };
      return { index: packagesIndex(s.packages), origin };
    }),
  );
}
