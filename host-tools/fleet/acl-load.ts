import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { fsReason } from '../../common/fs-errors.js';
import { aclManifestSchema, identities } from './acl-files.js';
import { checkPasswdHash, parsePasswd } from './acl-password.js';
import { aclRules, allowed, type Access, type AclRule, type Identity } from './acl-rules.js';
import { LAYOUT, recoverSwap } from './acl-write.js';

/**
 * An `ota fleet acl` folder as a broker's checks (docs/fleet.md, "Access control"): who a user
 * name and password are, and what that identity may publish and subscribe. `ota serve
 * --broker-acl DIR` gives these to its embedded broker, so it enforces the rules Mosquitto reads
 * from the same folder.
 *
 * @example
 * const acl = await loadBrokerAcl('acl/');
 * const who = acl.authenticate('gw-1', password); // { role: 'device', id: 'gw-1', group: 'canary' }
 * acl.may(who, 'publish', 'ota/devices/gw-2/status'); // false
 */
export interface BrokerAcl {
  dir: string;
  users: number;
  /** The identity a user name and password prove, or null. */
  authenticate: (username: string, password: string) => Identity | null;
  /** The identity of a client certificate's CN (the certificate already verified against the CA), or null. */
  byCertificate: (cn: string) => Identity | null;
  /** PEM: the fleet CA and the broker's certificate and key, for a TLS listener that requires client certificates. */
  tls: { ca: string; cert: string; key: string };
  may: (who: Identity, access: Access, topicOrFilter: string) => boolean;
}

export async function loadBrokerAcl(dir: string): Promise<BrokerAcl> {
  await recoverSwap(dir);
  const read = async (name: string) => {
    try {
      return await readFile(join(dir, name), 'utf8');
    } catch (e) {
      throw new OtaError('ERR_OTA_USAGE', `cannot read ${join(dir, name)}: ${fsReason(e)}`, { cause: e, hint: 'pass the folder `ota fleet acl -o` wrote' });
    }
  };
  let json: unknown;
  try {
    json = JSON.parse(await read(LAYOUT.manifest));
  } catch (e) {
    if (e instanceof OtaError) throw e;
  }
  const parsed = aclManifestSchema.safeParse(json);
  if (!parsed.success) throw new OtaError('ERR_OTA_USAGE', `${join(dir, LAYOUT.manifest)} is not a fleet ACL record`, { hint: 'run `ota fleet acl --devices FILE -o DIR` again' });
  const hashes = parsePasswd(await read(LAYOUT.passwd));
  const tls = { ca: await read(LAYOUT.brokerCa), cert: await read(LAYOUT.serverCert), key: await read(LAYOUT.serverKey) };
  const byId = new Map(identities(parsed.data).map((who) => [who.id, { who, rules: aclRules(who, parsed.data.prefix) }] as const));
  const rules = new Map<string, AclRule[]>([...byId].map(([id, v]) => [id, v.rules]));
  return {
    dir,
    users: byId.size,
    authenticate: (username, password) => {
      const user = byId.get(username);
      const hash = hashes.get(username);
      return user !== undefined && hash !== undefined && checkPasswdHash(hash, password) ? user.who : null;
    },
    byCertificate: (cn) => byId.get(cn)?.who ?? null,
    tls,
    may: (who, access, topic) => allowed(rules.get(who.id) ?? [], access, topic),
  };
}
