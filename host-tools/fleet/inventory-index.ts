/**
 * Which devices run which version of which package, from the retained inventories (docs/fleet.md,
 * "ota fleet inventory"). Pure: built from the fleet's state, so it is tested without a broker.
 * A package of an agent that predates the source fields is taken as its own source.
 *
 * @example
 * const idx = inventoryIndex(fleet, { package: 'openssl' });
 * idx.packages[0].versions; // [{ version: '3.0.15-1~deb12u1', arch: 'arm64', devices: ['gw-1', 'gw-2'] }]
 */
import { compareVersions } from '../../contract/index.js';
import type { DeviceRecord, FleetState } from './fleet-state.js';

export interface InstalledPackage {
  name: string;
  version: string;
  arch: string;
  source: string;
  sourceVersion: string;
}

/** One device's installed packages, with the source fields filled in where its agent left them out. */
export function installedPackages(r: DeviceRecord): InstalledPackage[] {
  return (r.inventory?.packages ?? []).map((p) => ({ name: p.name, version: p.version, arch: p.arch, source: p.source ?? p.name, sourceVersion: p.sourceVersion ?? p.version }));
}

export interface PackageVersions {
  name: string;
  /** The source package (of the first device that has it: one binary comes from one source). */
  source: string;
  /** Newest version first. */
  versions: { version: string; arch: string; devices: string[] }[];
}

export interface InventoryIndex {
  /** Devices with a readable inventory (in the group, when one is asked for). */
  devices: number;
  /** Devices in scope without a readable inventory: none published yet, or a refused one. */
  withoutInventory: string[];
  packages: PackageVersions[];
}

export interface InventoryQuery {
  /** A binary package name, or a source package name (all its binaries). */
  package?: string;
  group?: string;
}

export function inventoryIndex(state: FleetState, q: InventoryQuery = {}): InventoryIndex {
  const inScope = devicesInGroup(state, q.group);
  const byName = new Map<string, { source: string; versions: Map<string, { version: string; arch: string; devices: string[] }> }>();
  const withoutInventory: string[] = [];
  let devices = 0;
  for (const r of inScope) {
    if (r.inventory === null) {
      withoutInventory.push(r.id);
      continue;
    }
    devices++;
    for (const p of installedPackages(r)) {
      if (q.package !== undefined && p.name !== q.package && p.source !== q.package) continue;
      const entry = byName.get(p.name) ?? { source: p.source, versions: new Map() };
      byName.set(p.name, entry);
      const key = `${p.version} ${p.arch}`;
      const v = entry.versions.get(key) ?? { version: p.version, arch: p.arch, devices: [] };
      entry.versions.set(key, v);
      v.devices.push(r.id);
    }
  }
  const packages = [...byName.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, e]) => ({ name, source: e.source, versions: [...e.versions.values()].sort((a, b) => compareVersions(b.version, a.version) || (a.arch < b.arch ? -1 : 1)) }));
  for (const p of packages) for (const v of p.versions) v.devices.sort();
  return { devices, withoutInventory: withoutInventory.sort(), packages };
}

/** The devices of a group (as their status names it), or all with a valid id; sorted by id. */
export function devicesInGroup(state: FleetState, group: string | undefined): DeviceRecord[] {
  return [...state.devices.values()]
    .filter((r) => r.validId && (group === undefined || r.status?.group === group))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
