import { OtaError } from '../common/errors.js';
import { ID_PATTERN, LIMITS } from './limits.js';

/** The topic names of docs/contract.md, "MQTT topics (version 1)", under one prefix. */
export interface Topics {
  groupRelease(group: string): string;
  groupRollout(group: string): string;
  groupCommands(group: string): string;
  deviceCommands(device: string): string;
  deviceStatus(device: string): string;
  deviceOnline(device: string): string;
  deviceEvents(device: string): string;
  deviceTelemetry(device: string): string;
  deviceInventory(device: string): string;
}

export const DEFAULT_TOPIC_PREFIX = 'ota';

/**
 * Topic names under `prefix` (default `ota`; it may span levels, e.g. `plant-3/ota`). Ids are
 * checked, so a device id can never smuggle a `/`, `+` or `#` into another device's topics.
 *
 * @throws OtaError `ERR_OTA_USAGE` for a bad prefix or id.
 * @example
 * topics().deviceStatus('gw-1');            // 'ota/devices/gw-1/status'
 * topics('lab').groupRelease('canary');      // 'lab/groups/canary/release'
 * topics().groupRollout('canary');            // 'ota/groups/canary/rollout'
 */
export function topics(prefix: string = DEFAULT_TOPIC_PREFIX): Topics {
  const levels = prefix.split('/');
  if (prefix.length > 128 || levels.some((l) => l === '' || /[+#\0]/.test(l))) {
    throw new OtaError('ERR_OTA_USAGE', `invalid MQTT topic prefix ${JSON.stringify(prefix)}`, {
      hint: 'use levels of letters, digits and punctuation other than + and #, separated by single slashes (e.g. ota or plant-3/ota)',
    });
  }
  const device = (d: string, leaf: string) => `${prefix}/devices/${checked('device id', d)}/${leaf}`;
  return {
    groupRelease: (g) => `${prefix}/groups/${checked('group', g)}/release`,
    groupRollout: (g) => `${prefix}/groups/${checked('group', g)}/rollout`,
    groupCommands: (g) => `${prefix}/groups/${checked('group', g)}/commands`,
    deviceCommands: (d) => device(d, 'commands'),
    deviceStatus: (d) => device(d, 'status'),
    deviceOnline: (d) => device(d, 'online'),
    deviceEvents: (d) => device(d, 'events'),
    deviceTelemetry: (d) => device(d, 'telemetry'),
    deviceInventory: (d) => device(d, 'inventory'),
  };
}

function checked(what: string, value: string): string {
  if (value.length > LIMITS.idChars || !ID_PATTERN.test(value)) {
    throw new OtaError('ERR_OTA_USAGE', `invalid ${what} ${JSON.stringify(value)}`, {
      hint: `a ${what} is 1 to ${LIMITS.idChars} letters, digits, ".", "_" or "-", starting with a letter or digit`,
    });
  }
  return value;
}
