import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { id } from '../../contract/fields.js';
import { OtaError } from '../../common/errors.js';
import { fsReason } from '../../common/fs-errors.js';
import { parseStrictYaml } from '../../common/strict-yaml.js';

/** A million devices is past what one Mosquitto serves (docs/fleet.md, "On a broker cluster"). */
const MAX_DEVICES = 1_000_000;

/**
 * The devices file of `ota fleet acl` (docs/fleet.md, "Access control"): YAML or JSON, strict,
 * each device's id and group, and the operators' names (default one, `operator`). Ids follow
 * the contract's rule for device ids, so every one is a safe topic level, user name, certificate
 * CN and file name; an id may appear once across devices and operators.
 *
 * @example
 * const fleet = await loadDevicesFile('fleet.yaml');
 * fleet.devices[0]; // { id: 'gw-1', group: 'canary' }
 */
export const devicesFileSchema = z.strictObject({
  devices: z.array(z.strictObject({ id, group: id })).max(MAX_DEVICES),
  operators: z.array(id).min(1).max(64).default(['operator']),
});

export type DevicesFile = z.infer<typeof devicesFileSchema>;

/** 1 000 000 devices at ~40 bytes a line, with room to spare. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

export async function loadDevicesFile(path: string): Promise<DevicesFile> {
  let text: string;
  try {
    const st = await stat(path);
    if (st.isFile() && st.size > MAX_FILE_BYTES) throw new OtaError('ERR_OTA_USAGE', `devices file ${path} is ${st.size} bytes; ota reads at most ${MAX_FILE_BYTES}`);
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof OtaError) throw e;
    throw new OtaError('ERR_OTA_USAGE', `cannot read devices file ${path}: ${fsReason(e)}`, { cause: e, hint: 'pass --devices FILE: a YAML or JSON file with devices: [{ id, group }]' });
  }
  return parseDevicesFile(text, path);
}

/** Parses a devices file's text (YAML, of which JSON is a part); `where` names it in errors. */
export function parseDevicesFile(text: string, where: string): DevicesFile {
  const parsed = parseStrictYaml(text, where, devicesFileSchema, {
    code: 'ERR_OTA_USAGE',
    hint: 'a devices file is `devices: [{ id, group }]` and optionally `operators: [name]` (docs/fleet.md, "Access control")',
  });
  const seen = new Map<string, string>();
  const names: [string, string][] = [...parsed.devices.map((d, i) => [d.id, `devices[${i}]`] as [string, string]), ...parsed.operators.map((o, i) => [o, `operators[${i}]`] as [string, string])];
  for (const [name, at] of names) {
    const first = seen.get(name);
    if (first !== undefined) {
      throw new OtaError('ERR_OTA_USAGE', `${where}: "${name}" appears twice (${first} and ${at})`, { hint: 'each device id and operator name is one broker user: give each its own' });
    }
    seen.set(name, at);
  }
  return parsed;
}
