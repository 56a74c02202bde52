/**
 * What the build must do to have every locked .deb in the repository, as data (docs/conventions.md, "Plan as data"):
 * a deb whose commits exist is reused, one in the download cache is imported from there, the
 * rest are downloaded first. Keyed by SHA256 alone, so images that share packages share work,
 * and a renamed or re-versioned package with the same bytes is still reused.
 *
 * @example
 * const plan = planDebs(packages, { imported: (s) => refs.has(debDataRef(s)), cached: (s) => cache.has(s) }, []);
 * plan.download.length; // how many to fetch
 */
export interface LockedDeb {
  name: string;
  version: string;
  architecture: string;
  filename: string;
  size: number;
  sha256: string;
  /** The archive the lock resolved it from; for a local deb, the `file:` URL of its manifest's folder. */
  originUri: string;
  /** A local deb of the manifest: found in its folder only, never on a fallback. */
  local?: boolean;
}

export interface DebNeed extends LockedDeb {
  /** Where to fetch it, in order: the origin archive, then the fallbacks (snapshot archives, local mirrors). */
  urls: string[];
}

export interface DebPlan {
  reuse: DebNeed[];
  importFromCache: DebNeed[];
  download: DebNeed[];
}

/** The ref of a deb's data member commit (OSTree refs allow no `+`, so names stay out of refs). */
export function debDataRef(sha256: string): string {
  return `ota/deb/${sha256}/data`;
}

export function debControlRef(sha256: string): string {
  return `ota/deb/${sha256}/control`;
}

export function planDebs(
  packages: LockedDeb[],
  state: { imported: (sha256: string) => boolean; cached: (sha256: string) => boolean },
  fallbackUris: string[] = [],
): DebPlan {
  const plan: DebPlan = { reuse: [], importFromCache: [], download: [] };
  const seen = new Set<string>();
  for (const p of [...packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (seen.has(p.sha256)) continue;
    seen.add(p.sha256);
    const urls = [p.originUri, ...(p.local ? [] : fallbackUris)].map((u) => `${u.replace(/\/+$/, '')}/${p.filename}`);
    const need = { ...p, urls: [...new Set(urls)] };
    if (state.imported(p.sha256)) plan.reuse.push(need);
    else if (state.cached(p.sha256)) plan.importFromCache.push(need);
    else plan.download.push(need);
  }
  return plan;
}
