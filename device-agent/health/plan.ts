import { join } from 'node:path';
import type { HealthConfig } from '../config/schema.js';
import type { CheckLevel } from './report.js';

/**
 * Which checks a health run makes, as data (docs/conventions.md, "Plan as data"): built from the
 * configuration and the listings of the script folders, tested without running anything.
 *
 * @example
 * const plan = planChecks(config.health, new Map([['/etc/ota/health/required.d', [{ name: '10-net', file: true, executable: true }]]]), '/');
 */
export type CheckSpec =
  | { kind: 'unit'; name: string; level: CheckLevel; unit: string }
  | { kind: 'script'; name: string; level: CheckLevel; argv: string[]; runnable: true }
  | { kind: 'script'; name: string; level: CheckLevel; runnable: false; why: string }
  | { kind: 'disk'; name: string; level: CheckLevel; path: string; minFreeBytes: number }
  | { kind: 'memory'; name: string; level: CheckLevel; minAvailableBytes: number };

export interface DirEntry {
  name: string;
  /** A regular file (or a link to one); folders and the like are not checks. */
  file: boolean;
  executable: boolean;
}

/** A folder's entries; a folder that does not exist lists none; one that cannot be read, why. */
export type Listing = DirEntry[] | { error: string };

/** The folders a plan reads, each with the level its scripts have: `required.d` and `wanted.d` of every root. */
export function scriptFolders(config: Pick<HealthConfig, 'scriptRoots'>): { dir: string; level: CheckLevel }[] {
  return config.scriptRoots.flatMap((root) => (['required', 'wanted'] as const).map((level) => ({ dir: join(root, `${level}.d`), level })));
}

/** Package managers' and editors' leftovers, as run-parts skips them: never a check. */
function ignored(name: string): boolean {
  return name.startsWith('.') || name.endsWith('~') || /\.(dpkg|ucf)-[a-z]+$/.test(name) || name.endsWith('.disabled');
}

function scriptSpec(dir: string, level: CheckLevel, entry: DirEntry): CheckSpec | null {
  if (!entry.file || ignored(entry.name)) return null;
  const path = join(dir, entry.name);
  if (entry.executable) return { kind: 'script', name: path, level, argv: [path], runnable: true };
  // greenboot's checks are shell scripts it runs with bash, executable or not: so do we, so
  // that its folders can be read as they are.
  if (entry.name.endsWith('.sh')) return { kind: 'script', name: path, level, argv: ['bash', path], runnable: true };
  // A check that cannot run fails rather than being skipped: skipping would let an update
  // commit without a check its owner meant to require.
  return { kind: 'script', name: path, level, runnable: false, why: `not executable (chmod +x ${path}, or move it out of ${dir})` };
}

/**
 * The checks in the order they are reported: units, scripts (folder by folder, names in byte
 * order as run-parts sorts them), then disk (on `diskPath`, the sysroot) and memory. A
 * threshold of 0 makes no check.
 */
export function planChecks(config: HealthConfig, listings: ReadonlyMap<string, Listing>, diskPath: string): CheckSpec[] {
  const plan: CheckSpec[] = [];
  for (const unit of config.requiredUnits) plan.push({ kind: 'unit', name: `unit:${unit}`, level: 'required', unit });
  for (const unit of config.wantedUnits) plan.push({ kind: 'unit', name: `unit:${unit}`, level: 'wanted', unit });
  for (const { dir, level } of scriptFolders(config)) {
    const listing = listings.get(dir) ?? [];
    if ('error' in listing) {
      // An unreadable folder hides its checks: that is their failure, not their absence.
      plan.push({ kind: 'script', name: dir, level, runnable: false, why: `cannot read the folder: ${listing.error}` });
      continue;
    }
    const entries = [...listing].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const spec = scriptSpec(dir, level, entry);
      if (spec) plan.push(spec);
    }
  }
  if (config.minFreeDiskBytes > 0) plan.push({ kind: 'disk', name: `disk:${diskPath}`, level: 'required', path: diskPath, minFreeBytes: config.minFreeDiskBytes });
  if (config.minAvailableMemoryBytes > 0) plan.push({ kind: 'memory', name: 'memory', level: 'required', minAvailableBytes: config.minAvailableMemoryBytes });
  return plan;
}
