import { OtaError } from '../../common/errors.js';
import { topics } from '../../contract/topics.js';
import type { DevicesFile } from './acl-devices.js';
import type { AclManifest } from './acl-files.js';

/**
 * What a run of `ota fleet acl` will do, decided before anything is written (docs/conventions.md,
 * "Plan as data"): for the CA, the broker's certificate and each user, make it new or keep what
 * the output folder holds. A re-run keeps every credential it finds and adds the new devices;
 * only `rotate` replaces any (docs/fleet.md, "Access control").
 *
 * @example
 * const plan = planAcl(fleet, existing, { prefix: 'ota', brokerNames: ['localhost'], rotate: [] });
 * plan.users.filter((u) => u.password === 'new'); // the devices added since the last run
 */
export type Rotation = 'passwords' | 'certs' | 'ca';

export const ROTATIONS: readonly Rotation[] = ['passwords', 'certs', 'ca'];

/** What the output folder holds from an earlier run, as `readExisting` (acl-write.ts) found it. */
export interface ExistingAcl {
  manifest: AclManifest;
  hasCa: boolean;
  hasServerCert: boolean;
  /** Users whose clear password, and whose certificate and key, are there. */
  passwords: ReadonlySet<string>;
  certs: ReadonlySet<string>;
}

export interface PlanOptions {
  prefix: string;
  brokerNames: string[];
  rotate: readonly Rotation[];
}

export type Make = 'new' | 'kept';

export interface PlannedUser {
  id: string;
  role: 'device' | 'operator';
  group: string | null;
  password: Make;
  cert: Make;
  /** Not in the previous run's fleet. */
  added: boolean;
}

export interface AclPlan {
  manifest: AclManifest;
  ca: Make;
  serverCert: Make;
  users: PlannedUser[];
  /** In the previous run's fleet and not in this one: their folders and broker entries go. */
  removed: string[];
}

export function planAcl(fleet: DevicesFile, existing: ExistingAcl | null, o: PlanOptions): AclPlan {
  topics(o.prefix); // refuses a prefix no topic may have, before anything is decided
  for (const n of o.brokerNames) {
    if (!/^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$/.test(n)) {
      throw new OtaError('ERR_OTA_USAGE', `invalid broker name ${JSON.stringify(n)}`, { hint: 'give the host names and IP addresses devices use to reach the broker, separated by commas' });
    }
  }
  const rotate = new Set(o.rotate);
  const brokerNames = [...new Set(o.brokerNames)];
  const ca: Make = existing?.hasCa && !rotate.has('ca') ? 'kept' : 'new';
  const sameNames = existing !== null && existing.manifest.brokerNames.join(',') === brokerNames.join(',');
  const serverCert: Make = ca === 'kept' && existing?.hasServerCert && sameNames && !rotate.has('certs') ? 'kept' : 'new';
  const before = new Set(existing ? [...existing.manifest.devices.map((d) => d.id), ...existing.manifest.operators] : []);
  const user = (id: string, role: PlannedUser['role'], group: string | null): PlannedUser => ({
    id,
    role,
    group,
    password: existing?.passwords.has(id) && !rotate.has('passwords') ? 'kept' : 'new',
    cert: ca === 'kept' && existing?.certs.has(id) && !rotate.has('certs') ? 'kept' : 'new',
    added: !before.has(id),
  });
  const users = [...fleet.operators.map((id) => user(id, 'operator', null)), ...fleet.devices.map((d) => user(d.id, 'device', d.group))];
  const now = new Set(users.map((u) => u.id));
  return {
    manifest: { apiVersion: 'deb-ota/v1', kind: 'FleetAcl', prefix: o.prefix, devices: fleet.devices, operators: fleet.operators, brokerNames },
    ca,
    serverCert,
    users,
    removed: [...before].filter((id) => !now.has(id)).sort(),
  };
}
