import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ID_PATTERN } from '../../../contract/limits.js';
import { loadAgentConfig } from '../../../device-agent/config/load.js';
import { deviceIdFromMachineId } from '../../../device-agent/config/machine-id.js';
import { otaRejection } from '../../helpers/errors.js';

// The derivation is checked here for its properties; machine-id.int.test.ts checks it against systemd-id128's.

const newMachineId = () => randomBytes(16).toString('hex');

describe('deviceIdFromMachineId', () => {
  it('is 16 hex digits, a valid device id, the same for the same machine-id however it is written', () => {
    const m = newMachineId();
    const id = deviceIdFromMachineId(`${m}\n`, 'machine-id');
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(ID_PATTERN.test(id)).toBe(true);
    expect(deviceIdFromMachineId(m, 'x')).toBe(id);
    expect(deviceIdFromMachineId(`  ${m.toUpperCase()}\n`, 'x')).toBe(id);
  });

  it('differs between machines and does not contain the machine-id', () => {
    const machines = Array.from({ length: 64 }, newMachineId);
    const ids = machines.map((m) => deviceIdFromMachineId(m, 'x'));
    expect(new Set(ids).size).toBe(machines.length);
    machines.forEach((m, i) => {
      expect(m.includes(ids[i]!)).toBe(false);
      expect(ids[i]!.includes(m.slice(0, 8))).toBe(false);
    });
  });

  it('refuses an empty or uninitialized machine-id as not written yet (exit 1, so the service starts again)', () => {
    for (const text of ['', '\n', 'uninitialized\n']) {
      let e: unknown;
      try {
        deviceIdFromMachineId(text, '/etc/machine-id');
      } catch (err) {
        e = err;
      }
      expect(e).toMatchObject({ code: 'ERR_OTA_AGENT_CONFIG', exitCode: 1 });
      expect((e as Error).message).toContain('/etc/machine-id');
      expect((e as Error).message).toContain('first boot');
    }
  });

  it('refuses a file that is not a machine-id as bad input (exit 2)', () => {
    expect(() => deviceIdFromMachineId('not-a-machine-id', '/etc/machine-id')).toThrow(/is not a machine-id/);
    expect(() => deviceIdFromMachineId(`${newMachineId()}0`, '/etc/machine-id')).toThrow(/is not a machine-id/);
  });
});

let root: string;

async function put(rel: string, text: string): Promise<void> {
  await mkdir(dirname(join(root, rel)), { recursive: true });
  await writeFile(join(root, rel), text);
}

const IMAGE = `board: qemu-arm64
arch: arm64
remote: https://updates.example.com/fleet
bootloader: { kind: uboot, envPath: /boot/efi/ota.env }
`;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'agent-device-id-'));
  await put('usr/lib/ota/agent.yaml', IMAGE);
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('deviceId in the configuration', () => {
  it('given as a name: used as it is, the machine-id not read', async () => {
    await put('etc/ota/agent.yaml', 'deviceId: gw-0001\n');
    const loaded = await loadAgentConfig({ root });
    expect(loaded.config.deviceId).toBe('gw-0001');
    expect(loaded.deviceIdFrom).toBeNull();
  });

  it('{ fromMachineId: true }: derived from <root>/etc/machine-id when loaded', async () => {
    const m = newMachineId();
    await put('etc/machine-id', `${m}\n`);
    await put('etc/ota/agent.yaml', 'deviceId: { fromMachineId: true }\n');
    const loaded = await loadAgentConfig({ root });
    expect(loaded.config.deviceId).toBe(deviceIdFromMachineId(m, 'x'));
    expect(loaded.deviceIdFrom).toBe(join(root, 'etc/machine-id'));
  });

  it('a later layer replaces either form with the other', async () => {
    await put('etc/machine-id', `${newMachineId()}\n`);
    await put('etc/ota/agent.yaml', 'deviceId: { fromMachineId: true }\n');
    await put('etc/ota/agent.d/10-id.yaml', 'deviceId: gw-7\n');
    expect((await loadAgentConfig({ root })).config.deviceId).toBe('gw-7');
    await put('etc/ota/agent.d/20-id.yaml', 'deviceId:\n  fromMachineId: true\n');
    expect((await loadAgentConfig({ root })).config.deviceId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a machine-id that is missing or empty (first boot, before systemd wrote it) is a clear error, exit 1', async () => {
    await put('etc/ota/agent.yaml', 'deviceId: { fromMachineId: true }\n');
    const missing = await otaRejection(loadAgentConfig({ root }));
    expect(missing.code).toBe('ERR_OTA_AGENT_CONFIG');
    expect(missing.exitCode).toBe(1);
    expect(missing.message).toContain(`${join(root, 'etc/machine-id')} does not exist`);
    expect(missing.hint).toContain('starts again by itself');
    await put('etc/machine-id', '');
    expect((await otaRejection(loadAgentConfig({ root }))).message).toContain('is empty');
  });

  it('the object form is strict: fromMachineId: false, or another key, is refused with its file and line', async () => {
    await put('etc/ota/agent.yaml', 'group: lab\ndeviceId: { fromMachineId: false }\n');
    const e = await otaRejection(loadAgentConfig({ root }));
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain('agent.yaml:2');
    await put('etc/ota/agent.yaml', 'deviceId: { fromMachineId: true, salt: x }\n');
    expect((await otaRejection(loadAgentConfig({ root }))).message).toContain('agent.yaml:1');
  });
});
