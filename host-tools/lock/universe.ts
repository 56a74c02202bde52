import type { PackageRecord, PackagesIndex } from '../apt/packages-index.js';
import { parseRelations, type Alternative } from '../apt/relations.js';
import { compareVersions, satisfiesRelation } from '../apt/version.js';

/**
 * Every package version the image may use: the union of the loaded Packages indices for one
 * architecture, with apt's candidate policy (highest pin priority first, then highest version).
 *
 * @example
 * const u = new Universe('arm64', [{ index, origin }]);
 * u.candidate('bash')?.version;
 */
export interface Origin {
  uri: string;
  suite: string;
  component: string;
  priority: number;
  /** Position of the suite in the manifest's expanded sources, for stable tie-breaks. */
  order: number;
}

export interface Candidate extends PackageRecord {
  origin: Origin;
}

/** What a pin restricts a package to, as apt_preferences would: one version, or the versions one suite carries. */
export type Pin = { version: string } | { suite: string };

export function pinAccepts(pin: Pin): (c: Candidate) => boolean {
  return 'version' in pin ? (c) => c.version === pin.version : (c) => c.origin.suite === pin.suite;
}

/** What the indices say regardless of pins, shared by a universe and its pinned views. */
interface Derived {
  versions: Map<string, Candidate[]>;
  shadowed: Map<Candidate, Candidate[]>;
  provides: Map<Candidate, Alternative[]>;
}

export class Universe {
  private readonly cache: Map<string, Candidate[]>;
  /** The same version from other sources than the one `versions()` keeps, best first (priority >= 0). */
  private readonly shadowed: Map<Candidate, Candidate[]>;
  private readonly providesCache: Map<Candidate, Alternative[]>;
  private readonly pins = new Map<string, (c: Candidate) => boolean>();
  private pinned: ReadonlyMap<string, Pin> = new Map();

  constructor(
    readonly arch: string,
    private readonly indices: { index: PackagesIndex; origin: Origin }[],
    derived: Derived = { versions: new Map(), shadowed: new Map(), provides: new Map() },
  ) {
    this.cache = derived.versions;
    this.shadowed = derived.shadowed;
    this.providesCache = derived.provides;
  }

  /**
   * A view of this universe whose candidates follow `pins` (read as they are when asked, so the
   * caller may add to the map as it goes); this universe itself is left as it is.
   */
  withPins(pins: ReadonlyMap<string, Pin>): Universe {
    const view = new Universe(this.arch, this.indices, { versions: this.cache, shadowed: this.shadowed, provides: this.providesCache });
    for (const [name, accept] of this.pins) view.pins.set(name, accept);
    view.pinned = pins;
    return view;
  }

  /** All versions of `name`, best first (apt's candidate order), one per version string. */
  versions(name: string): Candidate[] {
    let list = this.cache.get(name);
    if (list) return list;
    list = [];
    for (const { index, origin } of this.indices) {
      for (const rec of index.records(name)) {
        if (rec.architecture !== this.arch && rec.architecture !== 'all') continue;
        list.push({ ...rec, origin });
      }
    }
    list.sort((a, b) => b.origin.priority - a.origin.priority || compareVersions(b.version, a.version) || a.origin.order - b.origin.order);
    const kept = new Map<string, Candidate>();
    list = list.filter((c) => {
      if (c.origin.priority < 0) return false;
      const first = kept.get(c.version);
      if (first) {
        this.shadowed.set(first, [...(this.shadowed.get(first) ?? []), c]);
        return false;
      }
      kept.set(c.version, c);
      return true;
    });
    this.cache.set(name, list);
    return list;
  }

  /**
   * The version apt would install: the best one, or the best one a pin allows
   * (`name=version`, `name/suite` in the manifest, or the version already locked).
   */
  candidate(name: string): Candidate | undefined {
    const pinned = this.pinned.get(name);
    const pin = pinned ? pinAccepts(pinned) : this.pins.get(name);
    return pin ? this.find(name, pin) : this.versions(name)[0];
  }

  /**
   * The best version `accept` allows, in candidate order. A version that several sources carry is
   * also looked for in the sources `versions()` dropped it from, so `name/suite` finds it in either.
   */
  find(name: string, accept: (c: Candidate) => boolean): Candidate | undefined {
    for (const v of this.versions(name)) {
      if (accept(v)) return v;
      const other = this.shadowed.get(v)?.find(accept);
      if (other) return other;
    }
    return undefined;
  }

  /** Every source's copy of every usable version of `name` (priority >= 0), best first. */
  copies(name: string): Candidate[] {
    return this.versions(name).flatMap((v) => [v, ...(this.shadowed.get(v) ?? [])]);
  }

  /** Restricts the candidate of `name` (apt's SetCandidateVersion). */
  pin(name: string, accept: (c: Candidate) => boolean): void {
    this.pins.set(name, accept);
  }

  /** Candidates of other packages whose Provides name `name` (their candidate versions only, as apt). */
  providers(name: string): Candidate[] {
    const out: Candidate[] = [];
    const seen = new Set<string>();
    for (const { index } of this.indices) {
      for (const owner of index.providersOf(name)) {
        if (seen.has(owner)) continue;
        seen.add(owner);
        const c = this.candidate(owner);
        if (c && this.provided(c).some((p) => p.name === name)) out.push(c);
      }
    }
    return out;
  }

  /** The parsed Provides of a version. */
  provided(c: Candidate): Alternative[] {
    let p = this.providesCache.get(c);
    if (!p) {
      p = parseRelations(c.provides, this.arch).map((g) => g[0]!);
      this.providesCache.set(c, p);
    }
    return p;
  }

  /**
   * Does version `c` satisfy the alternative, by its own name and version or by one of its
   * Provides? Unversioned Provides never satisfy a versioned relation (policy 7.5).
   */
  satisfies(c: Candidate, alt: Alternative): boolean {
    if (!this.archQualifierAllows(c, alt)) return false;
    if (c.name === alt.name && (!alt.op || satisfiesRelation(c.version, alt.op, alt.version!))) return true;
    for (const p of this.provided(c)) {
      if (p.name !== alt.name) continue;
      if (!alt.op) return true;
      if (p.op === '=' && satisfiesRelation(p.version!, alt.op, alt.version!)) return true;
    }
    return false;
  }

  /**
   * Multi-Arch qualifiers in a single-architecture image: `:any` is satisfied only by a
   * Multi-Arch: allowed package (or a foreign/allowed provider), `:native` and no qualifier by
   * the image's own packages, an explicit architecture only when it is the image's.
   */
  private archQualifierAllows(c: Candidate, alt: Alternative): boolean {
    const q = alt.archQualifier;
    if (q === undefined || q === 'native') return true;
    if (q === 'any') return c.name === alt.name ? c.multiArch === 'allowed' : c.multiArch === 'allowed' || c.multiArch === 'foreign';
    return q === this.arch;
  }

  names(): Set<string> {
    const all = new Set<string>();
    for (const { index } of this.indices) for (const n of index.names()) all.add(n);
    return all;
  }

  /** Names with a candidate that is Essential: yes, in index order. */
  essential(): string[] {
    return this.collect((i) => i.data.essential, (c) => c.essential);
  }

  /** Names with a candidate of Priority: required, in index order. */
  required(): string[] {
    return this.collect((i) => i.data.required, (c) => c.priority === 'required');
  }

  private collect(pick: (i: PackagesIndex) => string[], check: (c: Candidate) => boolean): string[] {
    const out = new Set<string>();
    for (const { index } of this.indices) {
      for (const n of pick(index)) {
        const c = this.candidate(n);
        if (c && check(c)) out.add(n);
      }
    }
    return [...out].sort();
  }
}
