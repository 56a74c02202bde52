/**
 * The booted deployment's packages as the contract's Inventory (docs/agent.md, "The worker protocol"), read
 * from the dpkg database inside the deployment (`ota build` keeps it in /usr/lib/sysimage/dpkg; /var/lib/dpkg
 * is the place of other builds). It is published when it changed since the last one published (its sha256 is
 * kept in `<stateDir>/inventory.sha256`, written after the line is printed) or when asked for.
 *
 * @example
 * const inv = await readInventory({ config, sysroot, bootedCommit, now });
 * if (inv !== null && (force || (await inventoryChanged(config.stateDir, inv)))) print(inv);
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { API_VERSION, inventorySchema, LIMITS, versionProblem, type Inventory } from '../../contract/index.js';
import type { Sysroot } from '../../node-ostree/index.js';
import type { AgentConfig } from '../config/schema.js';

export const INVENTORY_DIGEST_FILE = 'inventory.sha256';
const STATUS_FILES = ['usr/lib/sysimage/dpkg/status', 'var/lib/dpkg/status'];
const OS_RELEASE_FILES = ['usr/lib/os-release', 'etc/os-release'];

export interface PackageEntry {
  name: string;
  version: string;
  arch: string;
  /** The source package and its version (dpkg's `Source: name (version)`, else the package's own). */
  source: string;
  sourceVersion: string;
}

/**
 * The installed packages of a dpkg status file, in its order: stanzas whose Status ends in `installed`. A stanza
 * the contract cannot carry (no name, a version dpkg would refuse) is left out rather than fail the whole list.
 */
export function parseDpkgStatus(text: string): PackageEntry[] {
  const out: PackageEntry[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z0-9][A-Za-z0-9-]*):\s*(.*)$/.exec(line);
      if (m) fields.set(m[1]!.toLowerCase(), m[2]!.trim());
    }
    const [name, version, arch] = [fields.get('package'), fields.get('version'), fields.get('architecture')];
    if (!/ installed$/.test(fields.get('status') ?? '') || !name || !version || !arch) continue;
    if (!/^[a-z0-9][a-z0-9+.-]*$/.test(name) || versionProblem(version) !== undefined) continue;
    const src = sourceOf(fields.get('source'), name, version);
    out.push({ name, version, arch, source: src.source, sourceVersion: src.sourceVersion });
    if (out.length === LIMITS.packages) break;
  }
  return out;
}

/**
 * dpkg writes `Source:` only when it differs from the package: `Source: glibc` or, for a binary
 * rebuilt on its own (a binNMU), `Source: glibc (2.36-9)`. A malformed field falls back to the
 * package itself rather than drop the package.
 */
function sourceOf(field: string | undefined, name: string, version: string): { source: string; sourceVersion: string } {
  const m = /^([a-z0-9][a-z0-9+.-]*)(?:\s+\(([^()\s]+)\))?$/.exec(field ?? '');
  if (m === null) return { source: name, sourceVersion: version };
  const v = m[2];
  return { source: m[1]!, sourceVersion: v !== undefined && versionProblem(v) === undefined ? v : version };
}

/** What the digest covers: the commit and the packages, not the time it was read. */
export function inventoryDigest(inv: Pick<Inventory, 'commit' | 'packages'>): string {
  return createHash('sha256').update(JSON.stringify({ commit: inv.commit, packages: inv.packages })).digest('hex');
}

export interface ReadInventoryInput {
  config: Pick<AgentConfig, 'deviceId' | 'sysroot'>;
  /** A loaded sysroot. */
  sysroot: Sysroot;
  /** The commit running now (the engine's view); null when unknown: no inventory then. */
  bootedCommit: string | null;
  now: Date;
}

/** The inventory of the running deployment, or null when which one runs is unknown or it has no dpkg database. */
export async function readInventory(input: ReadInventoryInput): Promise<Inventory | null> {
  const { bootedCommit } = input;
  if (bootedCommit === null) return null;
  const d = input.sysroot.deployments().find((x) => x.checksum === bootedCommit);
  if (d === undefined || d.path === '') return null;
  for (const file of STATUS_FILES) {
    const text = await readFile(join(input.config.sysroot, d.path, file), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const codename = await readCodename(join(input.config.sysroot, d.path));
    const doc = { apiVersion: API_VERSION, kind: 'Inventory', device: input.config.deviceId, commit: bootedCommit, updatedAt: input.now.toISOString() };
    return inventorySchema.parse({ ...doc, ...(codename === undefined ? {} : { codename }), packages: parseDpkgStatus(text) });
  }
  return null;
}

/**
 * The deployment's Debian release (VERSION_CODENAME of its os-release), which the fleet's CVE query
 * matches against the security tracker's releases; undefined when it names none (testing, sid).
 */
export function osReleaseCodename(text: string): string | undefined {
  const m = /^VERSION_CODENAME=["']?([a-z][a-z0-9-]{0,31})["']?\s*$/m.exec(text);
  return m?.[1];
}

async function readCodename(root: string): Promise<string | undefined> {
  for (const file of OS_RELEASE_FILES) {
    const text = await readFile(join(root, file), 'utf8').catch(() => undefined);
    if (text !== undefined) return osReleaseCodename(text);
  }
  return undefined;
}

/** Whether the inventory differs from the last one published (none yet counts as a change). */
export async function inventoryChanged(stateDir: string, inv: Inventory): Promise<boolean> {
  const last = await readFile(join(stateDir, INVENTORY_DIGEST_FILE), 'utf8').catch(() => '');
  return last.trim() !== inventoryDigest(inv);
}

/** Remembers the inventory as published: called after its line is printed. */
export async function inventoryPublished(stateDir: string, inv: Inventory): Promise<void> {
  await writeFileAtomic(join(stateDir, INVENTORY_DIGEST_FILE), `${inventoryDigest(inv)}\n`);
}
