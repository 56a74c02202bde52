import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../common/exec.js';

/**
 * The fleet's TLS certificates, made with the real openssl (docs/fleet.md, "Access control"):
 * an EC P-256 CA, the broker's server certificate, and one client certificate per device or
 * operator whose CN is its id, which Mosquitto's `use_identity_as_username` takes as the user
 * name the ACL names. Extensions come from a config written beside the keys, so no host
 * openssl.cnf can make a client certificate a CA.
 *
 * @example
 * const pki = await preparePki(tmpDir);
 * await pki.makeCa('ca.crt', 'ca.key');
 * await pki.issue({ kind: 'client', cn: 'gw-1', certFile, keyFile, caCert, caKey });
 */
export interface IssueRequest {
  kind: 'client' | 'server';
  cn: string;
  /** Server names: DNS names and IP addresses, for the subjectAltName. */
  names?: string[];
  certFile: string;
  keyFile: string;
  caCert: string;
  caKey: string;
}

export interface Pki {
  makeCa: (certFile: string, keyFile: string) => Promise<void>;
  issue: (r: IssueRequest) => Promise<void>;
}

const CA_DAYS = 7300;
const CLIENT_DAYS = 3650;
/** What TLS clients of the big platforms accept for a server certificate. */
const SERVER_DAYS = 825;

const CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Writes the openssl config into `workDir` (a private temporary folder) and returns the two steps. */
export async function preparePki(workDir: string): Promise<Pki> {
  const config = join(workDir, 'openssl.cnf');
  await writeFile(config, CONFIG, { mode: 0o600 });
  const req = (what: string, args: string[]) => run(what, ['openssl', 'req', '-config', config, '-x509', ...NEW_KEY, ...args]);
  return {
    makeCa: async (certFile, keyFile) => {
      await req('making the fleet CA', ['-keyout', keyFile, '-out', certFile, '-days', String(CA_DAYS), '-subj', '/CN=ota fleet CA', '-extensions', 'ca_ext']);
    },
    issue: async (r) => {
      const san = r.kind === 'server' ? ['-addext', `subjectAltName=${(r.names ?? []).map(altName).join(',')}`] : [];
      const days = r.kind === 'server' ? SERVER_DAYS : CLIENT_DAYS;
      await req(`issuing the ${r.kind} certificate of ${r.cn}`, [
        '-keyout', r.keyFile, '-out', r.certFile, '-days', String(days), '-subj', `/CN=${r.cn}`,
        '-extensions', `${r.kind}_ext`, ...san, '-CA', r.caCert, '-CAkey', r.caKey,
      ]);
    },
  };
}

function altName(name: string): string {
  return /^[0-9.]+$/.test(name) || name.includes(':') ? `IP:${name}` : `DNS:${name}`;
}
