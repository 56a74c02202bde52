import type { EventSink } from '../../common/events.js';
import { DEFAULT_TOPIC_PREFIX } from '../../contract/topics.js';
import { loadDevicesFile } from './acl-devices.js';
import { planAcl, type Make, type Rotation } from './acl-plan.js';
import { readExisting, userDir, writeAcl, type WrittenAcl } from './acl-write.js';

/**
 * `ota fleet acl --devices FILE -o DIR`: a broker's password file, ACL, CA and certificates for
 * a fleet (docs/fleet.md, "Access control"). The devices file is read and the plan made before
 * anything is written; a re-run keeps the credentials it finds, unless `rotate` names them.
 *
 * @example
 * const r = await fleetAcl({ devicesFile: 'fleet.yaml', out: 'acl/' });
 * r.added; // ['gw-1', 'gw-2']
 */
export interface FleetAclOptions {
  devicesFile: string;
  out: string;
  /** Default `ota`. */
  prefix?: string;
  /** The names in the broker's certificate (default localhost and 127.0.0.1). */
  brokerNames?: string[];
  rotate?: Rotation[];
  onEvent?: EventSink;
}

export interface FleetAclReport extends WrittenAcl {
  prefix: string;
  devices: number;
  operators: number;
  ca: Make;
  serverCert: Make;
  added: string[];
  removed: string[];
  rotated: Rotation[];
  users: { id: string; role: 'device' | 'operator'; group: string | null; dir: string; password: Make; cert: Make }[];
}

export const DEFAULT_BROKER_NAMES = ['localhost', '127.0.0.1'];

export async function fleetAcl(o: FleetAclOptions): Promise<FleetAclReport> {
  const fleet = await loadDevicesFile(o.devicesFile);
  const existing = await readExisting(o.out);
  const plan = planAcl(fleet, existing, { prefix: o.prefix ?? DEFAULT_TOPIC_PREFIX, brokerNames: o.brokerNames ?? DEFAULT_BROKER_NAMES, rotate: o.rotate ?? [] });
  const written = await writeAcl(o.out, plan, { existing, onEvent: o.onEvent });
  return {
    ...written,
    prefix: plan.manifest.prefix,
    devices: plan.manifest.devices.length,
    operators: plan.manifest.operators.length,
    ca: plan.ca,
    serverCert: plan.serverCert,
    added: plan.users.filter((u) => u.added).map((u) => u.id),
    removed: plan.removed,
    rotated: [...new Set(o.rotate ?? [])],
    users: plan.users.map((u) => ({ id: u.id, role: u.role, group: u.group, dir: `${written.dir}/${userDir(u.role, u.id)}`, password: u.password, cert: u.cert })),
  };
}
