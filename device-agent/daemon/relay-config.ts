import { readFile } from '../../common/lean-fs.js';
import { OtaError } from '../../common/errors.js';
import type { AgentConfig, MqttConfig } from '../config/schema.js';

/**
 * The relay's configuration, learnt from `ota-agent config --json` run as a worker
 * (docs/agent.md, "The daemon and its workers"): the worker checked it with the schemas, so the relay only picks
 * the keys it uses and never loads zod or yaml itself.
 *
 * @example
 * const c = relayConfigFrom(JSON.parse(stdout));
 */
export interface RelayConfig {
  deviceId: string;
  group: string;
  sysroot: string;
  stateDir: string;
  mqtt: MqttConfig | null;
  /** The trusted keys' kids, for the pre-check; null when the worker could not read the keys. */
  trustedKids: string[] | null;
}

export function relayConfigFrom(doc: unknown): RelayConfig {
  const o = doc as { kind?: unknown; config?: Partial<AgentConfig>; trustedKids?: unknown } | null;
  const c = o?.config;
  if (o?.kind !== 'AgentConfig' || c === null || typeof c !== 'object') throw bad('it is not an AgentConfig document');
  for (const key of ['deviceId', 'group', 'sysroot', 'stateDir'] as const) {
    if (typeof c[key] !== 'string') throw bad(`it has no ${key}`);
  }
  if (c.mqtt !== null && (typeof c.mqtt !== 'object' || typeof c.mqtt?.url !== 'string')) throw bad('its mqtt block has no url');
  const kids = Array.isArray(o.trustedKids) && o.trustedKids.every((k) => typeof k === 'string') ? (o.trustedKids as string[]) : null;
  return { deviceId: c.deviceId!, group: c.group!, sysroot: c.sysroot!, stateDir: c.stateDir!, mqtt: c.mqtt ?? null, trustedKids: kids };
}

/** The password from `mqtt.passwordFile` (its first line), read at start. */
export async function readPassword(file: string | null): Promise<string | undefined> {
  if (file === null) return undefined;
  try {
    return (await readFile(file, 'utf8')).split('\n')[0];
  } catch (e) {
    throw new OtaError('ERR_OTA_AGENT_CONFIG', `mqtt.passwordFile ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, {
      hint: 'the agent runs as root; check the file and its permissions',
      cause: e,
    });
  }
}

function bad(why: string): OtaError {
  return new OtaError('ERR_OTA_AGENT_CONFIG', `ota-agent config --json gave the daemon a configuration it cannot use: ${why}`, {
    hint: 'run `ota-agent config --json` to see it; the daemon and the CLI come from the same package, so this is a bug',
  });
}
