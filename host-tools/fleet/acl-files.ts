import { z } from 'zod';
import { id } from '../../contract/fields.js';
import { aclRules, type Identity } from './acl-rules.js';

/**
 * What `ota fleet acl` writes for a broker, as text made from data
 * (docs/fleet.md, "Access control"): the record of the fleet (`acl.json`, which `ota serve
 * --broker-acl` and the next run read), Mosquitto's `acl_file` and a mosquitto.conf snippet
 * that uses it all.
 *
 * @example
 * const text = mosquittoAcl(manifest); // 'user gw-1\ntopic write ota/devices/gw-1/status\n...'
 */
export const aclManifestSchema = z.strictObject({
  apiVersion: z.literal('deb-ota/v1'),
  kind: z.literal('FleetAcl'),
  prefix: z.string().min(1).max(128),
  devices: z.array(z.strictObject({ id, group: id })),
  operators: z.array(id),
  /** The names in the broker's server certificate. */
  brokerNames: z.array(z.string().min(1).max(253)),
});

export type AclManifest = z.infer<typeof aclManifestSchema>;

/** Every identity of the fleet, operators first. */
export function identities(m: Pick<AclManifest, 'devices' | 'operators'>): Identity[] {
  return [...m.operators.map((o) => ({ role: 'operator' as const, id: o })), ...m.devices.map((d) => ({ role: 'device' as const, id: d.id, group: d.group }))];
}

/** Mosquitto's `acl_file`: a `user` block per identity, `write` for publish and `read` for subscribe. */
export function mosquittoAcl(m: AclManifest): string {
  const lines = ['# Written by `ota fleet acl` (docs/fleet.md, "Access control"): regenerate it, do not edit it.', '# No line before the first `user`: anonymous clients may do nothing.'];
  for (const who of identities(m)) {
    lines.push('', `user ${who.id}`);
    for (const r of aclRules(who, m.prefix)) lines.push(`topic ${r.access === 'publish' ? 'write' : 'read'} ${r.filter}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface ConfOptions {
  /** Where the broker's files are (absolute). */
  brokerDir: string;
  /** The listener that takes client certificates (default 8883). */
  mtlsPort?: number;
  /** The TLS listener that takes user names and passwords (default 8884). */
  passwordPort?: number;
  /** Listen on this address only (default every interface). */
  bind?: string;
}

/**
 * A mosquitto.conf part with two TLS listeners: one where a client certificate's CN is the user
 * name, one for user names and passwords. The password file and ACL are global, which is
 * Mosquitto's default (`per_listener_settings false`).
 */
export function mosquittoConf(o: ConfOptions): string {
  const f = (name: string) => `${o.brokerDir}/${name}`;
  const listener = (port: number) => `listener ${port}${o.bind === undefined ? '' : ` ${o.bind}`}`;
  const tls = [`cafile ${f('ca.crt')}`, `certfile ${f('server.crt')}`, `keyfile ${f('server.key')}`];
  return [
    '# Written by `ota fleet acl` (docs/fleet.md, "Access control"). Include it from the main',
    '# mosquitto.conf, or copy its lines there; the broker must be able to read the files it names.',
    'allow_anonymous false',
    `password_file ${f('passwd')}`,
    `acl_file ${f('acl')}`,
    '',
    '# Client certificates signed by the fleet CA; the certificate CN is the user name.',
    listener(o.mtlsPort ?? 8883),
    ...tls,
    'require_certificate true',
    'use_identity_as_username true',
    '',
    '# User names and passwords, over TLS.',
    listener(o.passwordPort ?? 8884),
    ...tls,
    '',
  ].join('\n');
}
