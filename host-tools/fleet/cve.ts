/**
 * Which devices are exposed to which CVEs (docs/fleet.md, "ota fleet cve"), from the Debian
 * security tracker's JSON export and the devices' inventories. Pure: the tracker is a parsed
 * value, so the matcher is tested on a fixture without a broker.
 *
 * The export is keyed by SOURCE package, then by issue (CVE-… or TEMP-…), then by release
 * codename: `{ "openssl": { "CVE-2024-0727": { "releases": { "bookworm": { "status": "resolved",
 * "fixed_version": "3.0.13-1~deb12u1", "urgency": "not yet assigned" } } } } }`. For one release:
 * `resolved` with a fixed version means versions below it (dpkg's order) are exposed, and a fixed
 * version of `0` means the release never had the flaw; `open` means every version is exposed,
 * no fix yet; `undetermined` is reported as such. An issue that does not name the release does not
 * concern it.
 *
 * @example
 * const exposures = matchDevice(tracker, { device: 'gw-1', codename: 'bookworm', packages });
 */
import { compareVersions, versionProblem } from '../../contract/index.js';
import type { InstalledPackage } from './inventory-index.js';
import { cleanText } from './sanitize.js';

export type ExposureStatus = 'fixed-later' | 'open' | 'undetermined';

export interface Exposure {
  cve: string;
  source: string;
  /** The source version installed (the tracker's versions are source versions). */
  installedVersion: string;
  /** The binary packages of that source installed on the device. */
  packages: string[];
  /** The version that fixes it in this release; null while none does. */
  fixedVersion: string | null;
  status: ExposureStatus;
  urgency: string | null;
}

/** The tracker export as parsed JSON; only what a match reads is checked, and a broken entry is skipped. */
export type TrackerData = Record<string, unknown>;

export interface DevicePackages {
  device: string;
  codename: string;
  packages: InstalledPackage[];
}

export function matchDevice(tracker: TrackerData, d: DevicePackages): Exposure[] {
  const sources = new Map<string, { version: string; packages: string[] }>();
  for (const p of d.packages) {
    const s = sources.get(p.source) ?? { version: p.sourceVersion, packages: [] };
    sources.set(p.source, s);
    s.packages.push(p.name);
  }
  const out: Exposure[] = [];
  for (const [source, installed] of sources) {
    const issues = Object.hasOwn(tracker, source) ? tracker[source] : undefined;
    if (!isObject(issues)) continue;
    for (const [cve, issue] of Object.entries(issues)) {
      const e = exposure(issue, d.codename, installed.version);
      if (e !== null) out.push({ cve: cleanText(cve, { maxChars: 64 }), source, installedVersion: installed.version, packages: installed.packages.sort(), ...e });
    }
  }
  return out.sort((a, b) => (a.cve < b.cve ? -1 : a.cve > b.cve ? 1 : a.source < b.source ? -1 : 1));
}

function exposure(issue: unknown, codename: string, installed: string): Pick<Exposure, 'fixedVersion' | 'status' | 'urgency'> | null {
  if (!isObject(issue) || !isObject(issue.releases) || !Object.hasOwn(issue.releases, codename)) return null;
  const rel = issue.releases[codename];
  if (!isObject(rel)) return null;
  const urgency = typeof rel.urgency === 'string' ? cleanText(rel.urgency, { maxChars: 32 }) : null;
  const fixed = typeof rel.fixed_version === 'string' ? rel.fixed_version : null;
  if (rel.status === 'open') return { fixedVersion: null, status: 'open', urgency };
  if (rel.status === 'resolved') {
    if (fixed === '0') return null;
    if (fixed === null || versionProblem(fixed) !== undefined) return { fixedVersion: null, status: 'undetermined', urgency };
    return compareVersions(installed, fixed) < 0 ? { fixedVersion: fixed, status: 'fixed-later', urgency } : null;
  }
  if (rel.status === 'undetermined') return { fixedVersion: null, status: 'undetermined', urgency };
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
