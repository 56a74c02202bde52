import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, start } from '../../../common/exec.js';
import { DEVICE_ID_APP, deviceIdFromMachineId } from '../../../device-agent/config/machine-id.js';
import { bundledChild } from '../../helpers/bundled-child.js';

// systemd's own implementation of app-specific ids is the reference: our derivation must print what
// `systemd-id128 machine-id --app-specific=` prints for this host's machine-id, cut to 16 digits.
const HOST_ID = '/etc/machine-id';
const hasSystemdId = existsSync('/usr/bin/systemd-id128') && existsSync(HOST_ID);

describe('the device id from the machine-id', () => {
  it.skipIf(!hasSystemdId)('is the first 16 hex digits of systemd-id128 machine-id --app-specific', async () => {
    const systemd = (await run('systemd-id128', ['systemd-id128', 'machine-id', `--app-specific=${DEVICE_ID_APP}`])).stdout.trim();
    expect(systemd).toMatch(/^[0-9a-f]{32}$/);
    expect(deviceIdFromMachineId(await readFile(HOST_ID, 'utf8'), HOST_ID)).toBe(systemd.slice(0, 16));
  });
});

// The relay (as ota-agent daemon runs it) with the real CLI as its worker: on a first boot before systemd
// wrote the machine-id it exits non-zero, which the unit's Restart=on-failure starts again; once the
// machine-id is there, the next start runs with the derived id.
describe('ota-agent daemon, deviceId from the machine-id', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ota-daemon-machine-id-'));
    await mkdir(join(root, 'usr/lib/ota'), { recursive: true });
    await mkdir(join(root, 'etc/ota'), { recursive: true });
    await mkdir(join(root, 'var/lib/ota'), { recursive: true });
    const image = ['board: b1', 'arch: amd64', 'remote: https://u.example/fleet', 'bootloader: { kind: uboot, envPath: /boot/efi/ota.env }'];
    await writeFile(join(root, 'usr/lib/ota/agent.yaml'), [...image, `sysroot: ${root}`, `stateDir: ${join(root, 'var/lib/ota')}`, 'pollIntervalSeconds: 0', ''].join('\n'));
    await writeFile(join(root, 'etc/ota/agent.yaml'), 'deviceId: { fromMachineId: true }\n');
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  async function daemon(signalWhen?: (journal: string) => boolean): Promise<{ code: number; journal: string }> {
    const relay = await bundledChild(join(import.meta.dirname, '../daemon/relay-entry.ts'));
    const cli = await bundledChild(join(import.meta.dirname, '../../helpers/ota-agent-cli.ts'));
    const child = start('relay', [process.execPath, relay, 'daemon', '--root', root], { env: { ...process.env, OTA_AGENT_SELF: JSON.stringify([process.execPath, cli]) } });
    let journal = '';
    let signalled = false;
    child.onStderr((t) => {
      journal += t;
      if (!signalled && signalWhen?.(journal)) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    const { code } = await child.exited;
    return { code: code ?? -1, journal };
  }

  it('exits 1 saying the machine-id is not written yet, then starts with the derived id once it is', async () => {
    const first = await daemon();
    expect(first.code).toBe(1);
    expect(first.journal).toContain('etc/machine-id does not exist');
    const machineId = '0123456789abcdef0123456789abcdef';
    await writeFile(join(root, 'etc/machine-id'), `${machineId}\n`);
    const id = deviceIdFromMachineId(machineId, 'x');
    const second = await daemon((j) => j.includes('ota-agent daemon: device '));
    expect(second.journal).toContain(`ota-agent daemon: device ${id}, group default`);
    expect(second.code).toBe(0);
  });
});
