import { OtaError } from '../../common/errors.js';
import { editDistance } from '../manifest/load.js';
import { formatAlternative, formatGroup, parseRelations, type Alternative, type Group } from '../apt/relations.js';
import { satisfiesRelation } from '../apt/version.js';
import type { Candidate, Pin, Universe } from './universe.js';

/**
 * Resolves what an image asks for into one version per package, the way apt-get install
 * does on an empty system (apt-pkg/depcache.cc MarkInstall): requested packages are marked
 * first, then each one's Pre-Depends and Depends are satisfied depth-first; an or-group already
 * satisfied by a marked package is left alone; otherwise its alternatives are tried in order,
 * each alternative's candidates (the package itself, then providers) sorted as apt's
 * CompareProviders sorts them. Only candidate versions are considered, as in apt.
 *
 * Where apt would mark a conflicting package and leave its problem resolver to undo an earlier
 * choice, this resolver refuses the conflicting alternative and tries the next, so the result
 * is always consistent; when nothing fits it explains the chain and the conflict.
 *
 * @example
 * const r = resolve(universe, { roots: [{ name: 'openssh-server' }], variant: 'minbase', exclude: [], recommends: false });
 * r.selected.get('libc6')?.version;
 */
export interface RootSpec {
  name: string;
  /** `name=version`: exactly this version. */
  version?: string;
  /** `name/suite`: the best version from this suite. */
  suite?: string;
  archQualifier?: string;
}

export interface ResolveRequest {
  roots: RootSpec[];
  variant: 'minbase' | 'none';
  exclude: string[];
  recommends: boolean;
  /** Versions to keep when they are still available (the existing lock, unless --update). */
  prefer?: Map<string, string>;
}

export type DependencyField = 'Pre-Depends' | 'Depends' | 'Recommends';

export type Reason =
  | { kind: 'requested' }
  | { kind: 'essential' }
  | { kind: 'required' }
  | { kind: 'dependency'; by: string; field: DependencyField; relation: string };

export interface Resolution {
  selected: Map<string, Candidate>;
  reasons: Map<string, Reason>;
  /** Root names in the order they were requested (essential, required, manifest). */
  roots: string[];
  /** The pins the resolution followed: the kept versions (`prefer`) and the manifest's `=VERSION` and `/suite`. */
  pins: Map<string, Pin>;
}

const PRIORITY_RANK: Record<string, number> = { required: 1, important: 2, standard: 3, optional: 4, extra: 5 };

/** What resolving one request keeps as it goes; the universe it reads is a pinned view, the caller's is not touched. */
interface State {
  universe: Universe;
  request: ResolveRequest;
  excluded: Set<string>;
  selected: Map<string, Candidate>;
  reasons: Map<string, Reason>;
  /** The roots: preferred as providers, as apt protects what was asked for. */
  protectedNames: Set<string>;
}

export function resolve(given: Universe, request: ResolveRequest): Resolution {
  const excluded = new Set(request.exclude);
  const pins = new Map<string, Pin>();
  const universe = given.withPins(pins);
  for (const [name, version] of request.prefer ?? []) {
    if (universe.versions(name).some((c) => c.version === version)) pins.set(name, { version });
  }
  // The manifest's own pins come first: they hold for a package whatever pulls it in (a minbase
  // root, a dependency), as an apt preference would, not only where the manifest names it.
  for (const spec of request.roots) {
    if (!(spec.version || spec.suite) || excluded.has(spec.name)) continue;
    const pin = rootPin(universe, spec, excluded);
    if (pin) pins.set(spec.name, pin);
  }
  const state: State = { universe, request, excluded, selected: new Map(), reasons: new Map(), protectedNames: new Set() };
  const roots = markRoots(state);
  const done = new Set<string>();
  for (const name of roots) installDeps(state, { pkg: state.selected.get(name)!, chain: [], done });
  return { selected: state.selected, reasons: state.reasons, roots, pins };
}

/** 1. The roots: Essential and Priority: required for minbase, then the manifest's packages. Returns their names in order. */
function markRoots(state: State): string[] {
  const { universe, request, excluded, selected, reasons } = state;
  const roots: { spec: RootSpec; reason: Reason }[] = [];
  if (request.variant === 'minbase') {
    for (const n of universe.essential()) if (!excluded.has(n)) roots.push({ spec: { name: n }, reason: { kind: 'essential' } });
    for (const n of universe.required()) if (!excluded.has(n)) roots.push({ spec: { name: n }, reason: { kind: 'required' } });
  }
  for (const spec of request.roots) roots.push({ spec, reason: { kind: 'requested' } });
  const names: string[] = [];
  for (const { spec, reason } of roots) {
    if (excluded.has(spec.name)) {
      throw new OtaError('ERR_OTA_MANIFEST', `package ${spec.name} is both requested and excluded`, {
        hint: 'remove it from `packages` or from `exclude`',
      });
    }
    const c = rootCandidate(universe, spec, excluded);
    if (selected.has(c.name)) continue;
    const clash = conflictWith(universe, c, selected);
    if (clash) {
      throw new OtaError('ERR_OTA_UNSATISFIABLE', `${c.name} ${c.version} conflicts with ${clash.other.name} ${clash.other.version} (${clash.relation})`, {
        details: [`${c.name}: ${describeReason(reason)}`, `${clash.other.name}: ${describeReason(reasons.get(clash.other.name)!)}`],
        hint: 'remove one of them from the manifest, or add one to `exclude`',
      });
    }
    selected.set(c.name, c);
    reasons.set(c.name, reason);
    state.protectedNames.add(c.name);
    names.push(c.name);
  }
  return names;
}

/** 2. A package's dependencies, depth-first; `done` holds the packages whose dependencies are met already. */
function installDeps(state: State, at: { pkg: Candidate; chain: string[]; done: Set<string> }): void {
  const { universe, request, selected, reasons } = state;
  const { pkg, chain, done } = at;
  if (done.has(pkg.name)) return;
  done.add(pkg.name);
  const fields: [DependencyField, string | undefined, boolean][] = [
    ['Pre-Depends', pkg.preDepends, true],
    ['Depends', pkg.depends, true],
  ];
  if (request.recommends) fields.push(['Recommends', pkg.recommends, false]);
  for (const [field, text, critical] of fields) {
    for (const group of parseRelations(text, universe.arch)) {
      if (group.some((alt) => satisfiedBySelected(universe, alt, selected))) continue;
      const solutions = possibleSolutions(universe, group, state.protectedNames, state.excluded);
      const choice = solutions.find((c) => !conflictWith(universe, c, selected));
      if (!choice) {
        if (!critical) continue;
        throw unsatisfiable(state, { pkg, field, group, chain: [...chain, pkg.name] });
      }
      selected.set(choice.name, choice);
      reasons.set(choice.name, { kind: 'dependency', by: pkg.name, field, relation: formatGroup(group) });
      installDeps(state, { pkg: choice, chain: [...chain, pkg.name], done });
    }
  }
}

/** The pin a `name=version` or `name/suite` root asks for, refused with the reason when no source has it; none for a virtual name. */
function rootPin(universe: Universe, spec: RootSpec, excluded: Set<string>): Pin | undefined {
  checkQualifier(universe, spec);
  const versions = universe.versions(spec.name);
  if (versions.length === 0) {
    rootCandidate(universe, spec, excluded);
    return undefined;
  }
  if (spec.version) {
    if (!versions.some((v) => v.version === spec.version)) {
      throw new OtaError('ERR_OTA_UNKNOWN_PACKAGE', `${spec.name}=${spec.version} is not in any source (available: ${versions.map((v) => v.version).join(', ')})`, {
        hint: 'pick an available version, or drop the `=VERSION` pin',
      });
    }
    return { version: spec.version };
  }
  const suite = spec.suite!;
  if (!universe.find(spec.name, (v) => v.origin.suite === suite)) {
    throw new OtaError('ERR_OTA_UNKNOWN_PACKAGE', `${spec.name} is not in suite ${suite} (it is in: ${[...new Set(universe.copies(spec.name).map((v) => v.origin.suite))].join(', ')})`);
  }
  return { suite };
}

function checkQualifier(universe: Universe, spec: RootSpec): void {
  const q = spec.archQualifier;
  if (q !== undefined && q !== universe.arch && q !== 'native' && q !== 'any' && q !== 'all') {
    throw new OtaError('ERR_OTA_UNKNOWN_PACKAGE', `${spec.name}:${q} cannot be installed: the image is ${universe.arch} only`, {
      hint: `drop \`:${q}\`, or build an image for ${q}`,
    });
  }
}

/** The version a root installs: a virtual name's only provider, else the (pinned) candidate. */
function rootCandidate(universe: Universe, spec: RootSpec, excluded: Set<string>): Candidate {
  checkQualifier(universe, spec);
  const versions = universe.versions(spec.name);
  if (versions.length === 0) {
    // A purely virtual name with exactly one provider is installed through it, as apt does.
    const providers = universe.providers(spec.name).filter((p) => !excluded.has(p.name));
    if (providers.length === 1) return providers[0]!;
    if (providers.length > 1) {
      throw new OtaError('ERR_OTA_UNKNOWN_PACKAGE', `${spec.name} is a virtual package provided by several packages: ${providers.map((p) => p.name).sort().join(', ')}`, {
        hint: 'name the one you want in `packages`',
      });
    }
    throw unknownPackage(universe, spec.name);
  }
  return universe.candidate(spec.name) ?? versions[0]!;
}

function unknownPackage(universe: Universe, name: string): OtaError {
  const close: [number, string][] = [];
  for (const n of universe.names()) {
    if (Math.abs(n.length - name.length) > 3 && !n.includes(name)) continue;
    const d = n.includes(name) || name.includes(n) ? 1.5 : editDistance(n, name);
    if (d <= 3) close.push([d, n]);
  }
  close.sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]));
  const names = close.slice(0, 6).map(([, n]) => n);
  return new OtaError('ERR_OTA_UNKNOWN_PACKAGE', `unknown package ${name}: no source has it for ${universe.arch}`, {
    hint: names.length > 0 ? `close names: ${names.join(', ')}` : 'check the spelling and that the manifest\'s sources carry it (suites, components)',
  });
}

export function satisfiedBySelected(universe: Universe, alt: Alternative, selected: Map<string, Candidate>): boolean {
  const own = selected.get(alt.name);
  if (own && universe.satisfies(own, alt)) return true;
  for (const p of universe.providers(alt.name)) {
    const s = selected.get(p.name);
    if (s && universe.satisfies(s, alt)) return true;
  }
  return false;
}

/** apt's getAllPossibleSolutions(CANDIDATE, sorted): per alternative, in order, sorted by CompareProviders. */
function possibleSolutions(universe: Universe, group: Group, protectedNames: Set<string>, excluded: Set<string>): Candidate[] {
  const out: Candidate[] = [];
  for (const alt of group) {
    const list: Candidate[] = [];
    const own = universe.candidate(alt.name);
    if (own && universe.satisfies(own, alt)) list.push(own);
    for (const p of universe.providers(alt.name)) if (p !== own && universe.satisfies(p, alt)) list.push(p);
    list.sort((a, b) => compareProviders(a, b, alt.name, protectedNames));
    for (const c of list) if (!excluded.has(c.name) && !out.includes(c)) out.push(c);
  }
  return out;
}

function compareProviders(a: Candidate, b: Candidate, target: string, protectedNames: Set<string>): number {
  const pa = protectedNames.has(a.name);
  const pb = protectedNames.has(b.name);
  if (pa !== pb) return pa ? -1 : 1;
  if ((a.name === target) !== (b.name === target)) return a.name === target ? -1 : 1;
  if (a.essential !== b.essential) return a.essential ? -1 : 1;
  // apt's cache keeps 0 for a missing Priority, which sorts first.
  const ra = PRIORITY_RANK[a.priority ?? ''] ?? 0;
  const rb = PRIORITY_RANK[b.priority ?? ''] ?? 0;
  if (ra !== rb) return ra - rb;
  // apt's last resort is the higher package ID, i.e. the name seen later while building its cache.
  return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
}

interface Clash {
  other: Candidate;
  relation: string;
}

/** Conflicts and Breaks, both ways: does `c` clash with anything selected? A package never clashes with itself. */
export function conflictWith(universe: Universe, c: Candidate, selected: Map<string, Candidate>): Clash | undefined {
  const negatives = (x: Candidate) => [...parseRelations(x.conflicts, universe.arch), ...parseRelations(x.breaks, universe.arch)].flat();
  for (const alt of negatives(c)) {
    for (const other of selected.values()) {
      if (other.name !== c.name && negativeMatches(universe, other, alt)) return { other, relation: `${c.name} conflicts with or breaks ${formatAlternative(alt)}` };
    }
  }
  for (const other of selected.values()) {
    if (other.name === c.name) continue;
    for (const alt of negatives(other)) {
      if (negativeMatches(universe, c, alt)) return { other, relation: `${other.name} conflicts with or breaks ${formatAlternative(alt)}` };
    }
  }
  return undefined;
}

function negativeMatches(universe: Universe, c: Candidate, alt: Alternative): boolean {
  if (c.name === alt.name) return !alt.op || satisfiesRelation(c.version, alt.op, alt.version!);
  return universe.satisfies(c, alt);
}

function unsatisfiable(state: State, at: { pkg: Candidate; field: string; group: Group; chain: string[] }): OtaError {
  const { universe, selected, reasons, excluded } = state;
  const { pkg, field, group, chain } = at;
  const why: string[] = [];
  for (const alt of group) {
    const label = formatAlternative(alt);
    if (excluded.has(alt.name)) {
      why.push(`${label}: excluded by the manifest`);
      continue;
    }
    const own = universe.candidate(alt.name);
    const providers = universe.providers(alt.name);
    if (!own && providers.length === 0) {
      why.push(`${label}: no source has it for ${universe.arch}`);
      continue;
    }
    if (own && !universe.satisfies(own, alt)) {
      const others = universe.versions(alt.name).map((v) => v.version);
      why.push(`${label}: the candidate is ${own.version}${others.length > 1 ? ` (versions available: ${others.join(', ')})` : ''}`);
    }
    for (const c of [own, ...providers]) {
      if (!c || !universe.satisfies(c, alt)) continue;
      if (excluded.has(c.name)) {
        why.push(`${label}: ${c.name} ${c.version} is excluded by the manifest`);
        continue;
      }
      const clash = conflictWith(universe, c, selected);
      if (clash) {
        const otherReason = reasons.get(clash.other.name);
        why.push(`${label}: ${c.name} ${c.version} clashes with ${clash.other.name} ${clash.other.version} (${clash.relation}; ${clash.other.name} ${otherReason ? describeReason(otherReason) : ''})`);
      }
    }
    if (providers.length > 0 && !providers.some((p) => universe.satisfies(p, alt)) && !own) {
      why.push(`${label}: provided by ${providers.map((p) => `${p.name} ${p.version}`).join(', ')}, but not in a version that satisfies it`);
    }
  }
  const path = chainOf(chain, reasons);
  return new OtaError('ERR_OTA_UNSATISFIABLE', `cannot satisfy ${pkg.name} ${pkg.version} ${field}: ${formatGroup(group)}`, {
    details: [`needed by: ${path}`, ...why],
    hint: 'pin another version, add a source that carries it, or drop the package that needs it',
  });
}

function chainOf(chain: string[], reasons: Map<string, Reason>): string {
  const first = chain[0];
  const r = first ? reasons.get(first) : undefined;
  const head = r ? `(${r.kind === 'dependency' ? 'dependency' : r.kind}) ` : '';
  return head + chain.join(' -> ');
}

/** One line that says why a package is in the image. */
export function describeReason(r: Reason): string {
  switch (r.kind) {
    case 'requested':
      return 'requested by the manifest';
    case 'essential':
      return 'Essential: yes (variant minbase)';
    case 'required':
      return 'Priority: required (variant minbase)';
    case 'dependency':
      return `${r.field} of ${r.by} (${r.relation})`;
  }
}
