import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';

/**
 * The device id derived from /etc/machine-id (docs/agent.md, "The device's id"), for a device whose
 * configuration says `deviceId: { fromMachineId: true }`: the image is the same on every device,
 * and the machine-id is the one thing systemd makes unique to each at its first boot.
 *
 * It is systemd's app-specific id (`sd_id128_get_machine_app_specific`, `systemd-id128 machine-id
 * --app-specific=APP`): HMAC-SHA256 keyed with the machine-id's 16 bytes over our application id's
 * 16 bytes, its first 16 bytes made a version 4 UUID; of that we keep the first 16 hex digits. The
 * machine-id is meant to stay on the device (machine-id(5)); an HMAC of it does not give it away,
 * is the same at every start, and another program's app-specific id cannot be linked to ours.
 * Sixteen characters stay under the 23 an MQTT 3.1.1 broker must accept as a client id.
 *
 * @example
 * deviceIdFromMachineId('3d1219c7c4c5404aaa1f6d2a48adfda4\n', '/etc/machine-id'); // 16 hex digits
 */
export function deviceIdFromMachineId(text: string, where: string): string {
  const id = text.trim().toLowerCase();
  if (id === '' || id === 'uninitialized') throw notYet(where, id === '' ? 'is empty' : 'says "uninitialized"');
  if (!/^[0-9a-f]{32}$/.test(id)) {
    throw new OtaError('ERR_OTA_AGENT_CONFIG', `${where} is not a machine-id (32 hexadecimal digits): ${JSON.stringify(id.slice(0, 40))}`, {
      hint: 'remove it and run `systemd-machine-id-setup`, or give deviceId in /etc/ota/agent.yaml',
    });
  }
  const hmac = createHmac('sha256', Buffer.from(id, 'hex')).update(Buffer.from(DEVICE_ID_APP, 'hex')).digest();
  // systemd's id128_make_v4_uuid: the version nibble and the variant bits, so `systemd-id128` prints the same.
  hmac[6] = (hmac[6]! & 0x0f) | 0x40;
  hmac[8] = (hmac[8]! & 0x3f) | 0x80;
  return hmac.subarray(0, 8).toString('hex');
}

/** Our application id for `systemd-id128 machine-id --app-specific=`: fixed forever, or every device changes its id. */
export const DEVICE_ID_APP = '2293f9d4d21c4478ad24df7dd0e98a43';

/** Reads `<root>/etc/machine-id` and derives the id; a missing or empty file is an error that says to wait. */
export async function readDeviceIdFromMachineId(root = '/'): Promise<{ deviceId: string; file: string }> {
  const file = join(root, 'etc/machine-id');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notYet(file, 'does not exist');
    throw new OtaError('ERR_OTA_AGENT_CONFIG', `cannot read ${file}: ${(e as Error).message}`, { hint: 'the agent runs as root; check the file', cause: e });
  }
  return { deviceId: deviceIdFromMachineId(text, file), file };
}

/**
 * Before systemd has written the machine-id (the first boot of a fresh image), the id cannot be known yet: exit
 * code 1 (failed work, not bad input), so the unit's Restart=on-failure starts the agent again later.
 */
function notYet(where: string, what: string): OtaError {
  return new OtaError('ERR_OTA_AGENT_CONFIG', `deviceId comes from the machine-id, but ${where} ${what}: systemd writes it at the first boot`, {
    hint: 'the ota-agent service starts again by itself once systemd has written it (systemd-machine-id-setup); or give deviceId in /etc/ota/agent.yaml',
    exitCode: 1,
  });
}
