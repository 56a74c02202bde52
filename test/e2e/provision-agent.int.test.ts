import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, loadTrustedKeys } from '../../contract/keys.js';
import { deviceIdFromMachineId } from '../../device-agent/config/machine-id.js';
import { loadAgentConfig } from '../../device-agent/config/load.js';
import { planProvision, writeProvision, PROVISION_PATHS } from '../../host-tools/image/provision.js';
import { loadBoard } from '../../host-tools/board/load.js';
import { BOARD_LAYER_PATH, planBoardLayer, writeBoardLayer } from '../../host-tools/image/board-layer.js';
import { packagedConfig } from '../../scripts/agent-deb/texts.js';
import { makeTestPki, type TestPki } from '../helpers/tls-certs.js';

// What `ota image` writes for the agent (docs/agent.md, "Provisioning by ota image"), checked with
// the agent's own configuration loader (here, where a test may import both halves): a real key
// set from contract/keys.ts, real PEM files made by openssl, files written into a folder standing
// for a deployment's root.

let tmp: string;
let pki: TestPki;
let jwks: string;
let kid: string;
const MACHINE_ID = '3d1219c7c4c5404aaa1f6d2a48adfda4';

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-provision-'));
  pki = await makeTestPki();
  const key = await generateSigningKey();
  kid = key.kid;
  jwks = join(tmp, 'release.pub.jwks');
  await writeFile(jwks, JSON.stringify({ keys: [key.publicJwk] }));
  await writeFile(join(tmp, 'password'), 's3cret\n');
}, 60_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
  if (pki) await rm(pki.dir, { recursive: true, force: true });
});

/** A deployment's root with what the agent's package would ship under /usr/lib/ota, and a machine-id. */
async function deploymentRoot(name: string): Promise<string> {
  const root = join(tmp, name);
  await mkdir(join(root, 'usr/lib/ota'), { recursive: true });
  await writeFile(join(root, 'usr/lib/ota/agent.yaml'), 'board: qemu-arm64\narch: arm64\nremote: http://shipped.example.invalid/fleet\nbootloader: { kind: uboot, envPath: /boot/efi/ota.env }\n');
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc/machine-id'), `${MACHINE_ID}\n`);
  return root;
}

const mode = async (p: string) => ((await stat(p)).mode & 0o777).toString(8);

describe('provisioning an image for the agent', () => {
  it('writes a layer the agent loads, the keys and credentials it points to, secrets 0600', async () => {
    const plan = (await planProvision({
      deviceId: 'gw-0001', group: 'lab', broker: 'mqtts://broker.example.invalid:8883', remote: 'https://updates.example.invalid/fleet', trustedKeys: jwks,
      mqttCa: pki.caCert, mqttCert: pki.clientCert, mqttKey: pki.clientKey, mqttUsername: 'gw', mqttPasswordFile: join(tmp, 'password'),
    }))!;
    const root = await deploymentRoot('full');
    await writeProvision(root, plan);
    const { config, files } = await loadAgentConfig({ root });
    expect(files).toContain(join(root, PROVISION_PATHS.layer));
    expect(config).toMatchObject({
      deviceId: 'gw-0001', group: 'lab', remote: 'https://updates.example.invalid/fleet', trustedKeys: PROVISION_PATHS.trustedKeys,
      mqtt: { url: 'mqtts://broker.example.invalid:8883', caFile: PROVISION_PATHS.mqttCa, certFile: PROVISION_PATHS.mqttCert, keyFile: PROVISION_PATHS.mqttKey, username: 'gw', passwordFile: PROVISION_PATHS.mqttPassword },
    });
    expect([...(await loadTrustedKeys(join(root, config.trustedKeys))).byKid.keys()]).toEqual([kid]);
    expect(await readFile(join(root, config.mqtt!.keyFile!))).toEqual(await readFile(pki.clientKey));
    expect(await readFile(join(root, config.mqtt!.passwordFile!), 'utf8')).toBe('s3cret\n');
    expect(await mode(join(root, PROVISION_PATHS.mqttKey))).toBe('600');
    expect(await mode(join(root, PROVISION_PATHS.mqttPassword))).toBe('600');
    expect(await mode(join(root, PROVISION_PATHS.mqttCert))).toBe('644');
    expect(await mode(join(root, PROVISION_PATHS.layer))).toBe('644');
    // The summary says what was provisioned, never a secret's content.
    expect(plan.summary).toMatchObject({ deviceId: 'gw-0001', trustedKeys: [kid], mqtt: { ca: true, clientCertificate: true, username: 'gw', password: true } });
    expect(JSON.stringify(plan.summary)).not.toContain('s3cret');
  });

  it('without --device-id, the agent derives the id from the machine-id', async () => {
    const root = await deploymentRoot('machine-id');
    await writeProvision(root, (await planProvision({ group: 'lab' }))!);
    const loaded = await loadAgentConfig({ root });
    expect(loaded.config.deviceId).toBe(deviceIdFromMachineId(MACHINE_ID, 'etc/machine-id'));
    expect(loaded.deviceIdFrom).toBe(join(root, 'etc/machine-id'));
    expect(loaded.config.group).toBe('lab');
    expect(await planProvision({})).toBeUndefined();
  });
});

describe("the board layer ota image writes, over the agent package's own", () => {
  it('completes the configuration: a provisioned image needs no hand-written file, on U-Boot and GRUB boards', async () => {
    const UUID = '3c1f5a0e-1b2d-4c3e-8f40-5a6b7c8d9e0f';
    for (const name of ['qemu-arm64', 'x86_64-efi']) {
      const { board } = await loadBoard(name);
      const root = join(tmp, `board-${name}`);
      // exactly what the .deb ships, and nothing hand-written
      await mkdir(join(root, 'usr/lib/ota'), { recursive: true });
      await writeFile(join(root, 'usr/lib/ota/agent.yaml'), packagedConfig(board.arch));
      await mkdir(join(root, 'etc'), { recursive: true });
      await writeFile(join(root, 'etc/machine-id'), `${MACHINE_ID}\n`);
      await writeFile(join(root, 'etc/fstab'), '# UNCONFIGURED FSTAB FOR BASE SYSTEM\n');
      await writeBoardLayer(root, planBoardLayer(board, { rootUuid: UUID, volumeId: '0a1b2c3d', osname: 'gateway' }));
      await writeProvision(root, (await planProvision({ group: 'lab', remote: 'http://10.0.2.100:8080', broker: 'mqtt://10.0.2.100:1883' }))!);
      const { config, files } = await loadAgentConfig({ root });
      expect(files).toEqual([join(root, 'usr/lib/ota/agent.yaml'), join(root, BOARD_LAYER_PATH), join(root, PROVISION_PATHS.layer)]);
      expect(config).toMatchObject({ board: name, osname: 'gateway', arch: board.arch, group: 'lab', remote: 'http://10.0.2.100:8080', mqtt: { url: 'mqtt://10.0.2.100:1883' } });
      expect(config.bootloader).toEqual(board.bootloader.type === 'uboot'
        ? { kind: 'uboot', envPath: '/boot/efi/ota.env', bootlimit: 3 }
        : { kind: 'grub', envPath: '/boot/efi/EFI/ota/grubenv', configPath: '/boot/efi/EFI/ota/grub.cfg', envLocation: { path: '/EFI/ota/grubenv' }, bootLocation: { uuid: UUID, path: '/boot' }, bootlimit: 3 });
      expect(await readFile(join(root, 'etc/fstab'), 'utf8')).toMatch(/^UUID=0A1B-2C3D \/boot\/efi vfat umask=0077,\S+ 0 0$/m);
    }
  });
});
