import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, privateJwk } from '../../../contract/keys.js';
import { mergeProvision, planProvision, readProvisionFile } from '../../../host-tools/image/provision.js';
import { otaRejection } from '../../helpers/errors.js';
import { makeTestPki, type TestPki } from '../../helpers/tls-certs.js';

// What `ota image` accepts to provision the agent (docs/agent.md, "Provisioning by ota image"): a
// real key set from contract/keys.ts and real PEM files made by openssl. That the agent loads what
// is written: test/e2e/provision-agent.int.test.ts.

let tmp: string;
let pki: TestPki;
let jwks: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-provision-'));
  pki = await makeTestPki();
  const key = await generateSigningKey();
  jwks = join(tmp, 'release.pub.jwks');
  await writeFile(jwks, JSON.stringify({ keys: [key.publicJwk] }));
  await writeFile(join(tmp, 'release.jwk.jwks'), JSON.stringify({ keys: [privateJwk(key)] }));
  await writeFile(join(tmp, 'password'), 's3cret\n');
}, 60_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
  if (pki) await rm(pki.dir, { recursive: true, force: true });
});

describe('provisioning input for ota image', () => {
  it('takes the settings from a strict YAML file, paths relative to it, options winning', async () => {
    await writeFile(join(tmp, 'provision.yaml'), 'group: from-file\ndeviceId: file-id\ntrustedKeys: release.pub.jwks\n');
    const input = mergeProvision(await readProvisionFile(join(tmp, 'provision.yaml')), { deviceId: 'cli-id' });
    expect(input).toEqual({ group: 'from-file', deviceId: 'cli-id', trustedKeys: jwks });
    await writeFile(join(tmp, 'typo.yaml'), 'group: lab\nbrokr: mqtt://b\n');
    const typo = await otaRejection(readProvisionFile(join(tmp, 'typo.yaml')));
    expect(typo.message).toMatch(/unknown key "brokr".*typo\.yaml:2/);
  });

  it('refuses bad input before anything is written, naming the option', async () => {
    const cases: [Parameters<typeof planProvision>[0], RegExp][] = [
      [{ broker: 'http://broker:1883' }, /--broker "http:\/\/broker:1883" is not mqtt:\/\/HOST/],
      [{ remote: 'ftp://x/y' }, /--remote "ftp:\/\/x\/y" is not an http\(s\):\/\/ or file: URL/],
      [{ deviceId: 'a b' }, /--device-id "a b" is not a name/],
      [{ trustedKeys: join(tmp, 'missing.jwks') }, /--trusted-keys .*missing\.jwks/],
      [{ trustedKeys: join(tmp, 'release.jwk.jwks') }, /is a private key/],
      [{ trustedKeys: pki.caCert }, /.+/],
      [{ broker: 'mqtt://b', mqttCert: pki.clientCert }, /--mqtt-cert needs its pair: give --mqtt-cert and --mqtt-key together/],
      [{ broker: 'mqtt://b', mqttCa: pki.clientKey }, /--mqtt-ca .* is not a PEM certificate/],
      [{ broker: 'mqtt://b', mqttCert: pki.clientCert, mqttKey: pki.caCert }, /--mqtt-key .* is not a PEM private key/],
      [{ mqttUsername: 'gw' }, /--mqtt-username is for a broker, and no --broker is given/],
    ];
    for (const [input, message] of cases) {
      const e = await otaRejection(planProvision(input));
      expect(e.message, JSON.stringify(input)).toMatch(message);
      expect(e.exitCode).toBe(2);
    }
  });
});
