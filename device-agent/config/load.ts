import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { parseStrictYaml } from '../../common/strict-yaml.js';
import { readDeviceIdFromMachineId } from './machine-id.js';
import { agentConfigLayerSchema, agentConfigSchema, BUILT_IN_DEFAULTS, MQTT_DEFAULTS, type AgentConfig, type AgentConfigLayer } from './schema.js';

/**
 * The agent's configuration, read in layers (docs/agent.md, "Configuration"): built-in defaults <
 * /usr/lib/ota/agent.yaml (the image's) < /etc/ota/agent.yaml (the device's) <
 * /etc/ota/agent.d/*.yaml in name order (drop-ins). Each file is checked on its own first, so an
 * unknown key is reported with that file's name and line; then the merged result must be
 * complete. Missing files are skipped; an unreadable one is an error.
 *
 * @example
 * const { config, files } = await loadAgentConfig({ root: '/' });
 */
export interface LoadConfigOptions {
  /** Prefix of /usr/lib/ota and /etc/ota: `/` on a device, a folder in tests and image builds. */
  root?: string;
}

export interface LoadedConfig {
  config: AgentConfig;
  /** The files that were read, lowest layer first. */
  files: string[];
  /** The machine-id file the device id was derived from; null when a layer gave the id. */
  deviceIdFrom: string | null;
}

const HINT = 'see docs/agent.md, "Configuration"';

/** The configuration files in layer order, lowest first, for a root. */
export async function configFiles(root = '/'): Promise<string[]> {
  const dropIns = join(root, 'etc/ota/agent.d');
  let names: string[] = [];
  try {
    names = (await readdir(dropIns)).filter((n) => n.endsWith('.yaml')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw unreadable(dropIns, e);
  }
  return [join(root, 'usr/lib/ota/agent.yaml'), join(root, 'etc/ota/agent.yaml'), ...names.map((n) => join(dropIns, n))];
}

export async function loadAgentConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const layers: AgentConfigLayer[] = [BUILT_IN_DEFAULTS];
  const files: string[] = [];
  for (const file of await configFiles(options.root)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw unreadable(file, e);
    }
    files.push(file);
    // An empty file (or one holding only comments) is an empty layer, not an error.
    if (text.split('\n').every((l) => l.trim() === '' || l.trim().startsWith('#'))) continue;
    layers.push(parseStrictYaml(text, file, agentConfigLayerSchema, { code: 'ERR_OTA_AGENT_CONFIG', hint: HINT }));
  }
  const merged = mergeLayers(layers);
  let deviceIdFrom: string | null = null;
  if (typeof merged.deviceId === 'object') {
    // Resolved here, the one loader every verb and the relay's `ota-agent config --json` read through.
    const derived = await readDeviceIdFromMachineId(options.root);
    merged.deviceId = derived.deviceId;
    deviceIdFrom = derived.file;
  }
  return { config: completeConfig(merged, files), files, deviceIdFrom };
}

/**
 * Layers merged, later over earlier: top-level keys replace, `health`, `policy` and `mqtt` merge
 * key by key, lists and the bootloader block are replaced whole.
 */
export function mergeLayers(layers: AgentConfigLayer[]): AgentConfigLayer {
  const out: AgentConfigLayer = {};
  for (const layer of layers) {
    const { health, policy, mqtt, ...rest } = layer;
    Object.assign(out, rest);
    if (health) out.health = { ...out.health, ...health };
    if (policy) out.policy = { ...out.policy, ...policy };
    // The first layer that names a broker starts from MQTT_DEFAULTS; null removes the broker again.
    if (mqtt === null) out.mqtt = null;
    else if (mqtt) out.mqtt = { ...MQTT_DEFAULTS, ...out.mqtt, ...mqtt };
  }
  return out;
}

/** The merged layers as a whole configuration, or an error naming every missing or wrong key and the files read. */
export function completeConfig(merged: AgentConfigLayer, files: string[]): AgentConfig {
  const result = agentConfigSchema.safeParse(merged);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.join('.');
    return issue.code === 'invalid_type' && valueAt(merged, issue.path) === undefined ? `missing required key "${path}"` : `"${path}": ${issue.message}`;
  });
  const read = files.length === 0 ? 'no configuration file was found' : `read ${files.join(', ')}`;
  throw new OtaError('ERR_OTA_AGENT_CONFIG', `agent configuration: ${problems[0]} (${read})`, {
    details: problems.slice(1),
    hint: `set it in /etc/ota/agent.yaml or a file in /etc/ota/agent.d/; ${HINT}`,
  });
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let cur = input;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function unreadable(path: string, e: unknown): OtaError {
  return new OtaError('ERR_OTA_AGENT_CONFIG', `cannot read ${path}: ${(e as Error).message}`, { hint: 'the agent runs as root; check the file permissions', cause: e });
}
