import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import { parseStrictYaml } from '../../common/strict-yaml.js';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { OtaError } from '../../common/errors.js';
import { fsReason } from '../../common/fs-errors.js';
import { ID_PATTERN, LIMITS } from '../../contract/index.js';
import { loadTrustedKeys } from '../../contract/keys.js';

/**
 * What `ota image` writes into each deployment's /etc so that the agent knows the device at
 * its first start (docs/agent.md, "Provisioning by ota image"): a configuration layer in
 * /etc/ota/agent.d/ whose keys the agent's schema takes, and the files it points to (trusted
 * keys, the broker's CA, a client certificate and key, a password file). Everything given is
 * read and checked here, before the image is begun; the plan is data, and writing it is a loop.
 *
 * @example
 * const plan = await planProvision({ group: 'lab', broker: 'mqtts://broker:8883', trustedKeys: 'keys/release.pub.jwks' });
 * await writeProvision(deployedRoot, plan!);
 */
export interface ProvisionInput {
  /** The device's id; absent: derived from /etc/machine-id at first boot. */
  deviceId?: string;
  group?: string;
  /** mqtt:// or mqtts:// URL of the broker. */
  broker?: string;
  /** The published directory the agent reads releases from (the agent's `remote`). */
  remote?: string;
  /** Files on the build host: a release.pub.jwks, PEM files, a password file. */
  trustedKeys?: string;
  mqttCa?: string;
  mqttCert?: string;
  mqttKey?: string;
  mqttUsername?: string;
  mqttPasswordFile?: string;
}

/** Where each provisioned file lives on the device (what the layer points to). */
export const PROVISION_PATHS = {
  layer: '/etc/ota/agent.d/10-provision.yaml',
  trustedKeys: '/etc/ota/release.pub.jwks',
  mqttCa: '/etc/ota/mqtt/ca.pem',
  mqttCert: '/etc/ota/mqtt/client.crt',
  mqttKey: '/etc/ota/mqtt/client.key',
  mqttPassword: '/etc/ota/mqtt/password',
} as const;

export interface ProvisionFile {
  /** Absolute on the device. */
  path: string;
  bytes: Buffer;
  /** 0600 for a secret (a private key, a password), 0644 otherwise. */
  mode: number;
}

/** What was provisioned, for the summary and `--json`: never a secret's content. */
export interface ProvisionSummary {
  /** The id given, or null: derived from /etc/machine-id at first boot. */
  deviceId: string | null;
  group: string | null;
  remote: string | null;
  broker: string | null;
  /** The kids of the trusted release keys. */
  trustedKeys: string[];
  mqtt: { ca: boolean; clientCertificate: boolean; username: string | null; password: boolean };
  files: { path: string; mode: string }[];
}

export interface ProvisionPlan {
  layer: Record<string, unknown>;
  files: ProvisionFile[];
  summary: ProvisionSummary;
}

/** Option names as the command line spells them, for messages. */
const OPTION: Record<keyof ProvisionInput, string> = {
  deviceId: '--device-id', group: '--group', broker: '--broker', remote: '--remote', trustedKeys: '--trusted-keys',
  mqttCa: '--mqtt-ca', mqttCert: '--mqtt-cert', mqttKey: '--mqtt-key', mqttUsername: '--mqtt-username', mqttPasswordFile: '--mqtt-password-file',
};

function usage(key: keyof ProvisionInput, why: string, hint?: string): OtaError {
  return new OtaError('ERR_OTA_USAGE', `${OPTION[key]} ${why}; no image was written`, { hint });
}

/** Checks what can be checked without files: names and URLs. */
function checkValues(input: ProvisionInput): void {
  for (const key of ['deviceId', 'group'] as const) {
    const v = input[key];
    if (v !== undefined && (v.length > LIMITS.idChars || !ID_PATTERN.test(v))) throw usage(key, `${JSON.stringify(v.slice(0, 80))} is not a name: letters, digits, ".", "_" and "-", starting with a letter or digit, at most ${LIMITS.idChars}`);
  }
  if (input.broker !== undefined && !(input.broker.length <= 2048 && /^mqtts?:\/\/[^/\s]+\/?$/.test(input.broker) && URL.canParse(input.broker))) {
    throw usage('broker', `${JSON.stringify(input.broker.slice(0, 80))} is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]`);
  }
  if (input.remote !== undefined && !(URL.canParse(input.remote) && ['http:', 'https:', 'file:'].includes(new URL(input.remote).protocol))) {
    throw usage('remote', `${JSON.stringify(input.remote.slice(0, 80))} is not an http(s):// or file: URL`, 'give the published directory devices read releases from');
  }
  const u = input.mqttUsername;
  if (u !== undefined && (u.length === 0 || u.length > 256 || [...u].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))) throw usage('mqttUsername', 'must be 1 to 256 characters without control characters');
  const mqttKeys = ['mqttCa', 'mqttCert', 'mqttKey', 'mqttUsername', 'mqttPasswordFile'] as const;
  const orphan = mqttKeys.find((k) => input[k] !== undefined);
  if (orphan && input.broker === undefined) throw usage(orphan, 'is for a broker, and no --broker is given');
  if ((input.mqttCert === undefined) !== (input.mqttKey === undefined)) throw usage(input.mqttCert === undefined ? 'mqttKey' : 'mqttCert', 'needs its pair: give --mqtt-cert and --mqtt-key together');
}

async function readGiven(key: keyof ProvisionInput, path: string): Promise<Buffer> {
  try {
    const bytes = await readFile(path);
    if (bytes.length === 0) throw usage(key, `${path} is empty`);
    if (bytes.length > 1024 * 1024) throw usage(key, `${path} is larger than 1 MiB`);
    return bytes;
  } catch (e) {
    if (e instanceof OtaError) throw e;
    throw usage(key, `${path}: ${fsReason(e)}`);
  }
}

async function pemFile(key: 'mqttCa' | 'mqttCert' | 'mqttKey', path: string): Promise<Buffer> {
  const bytes = await readGiven(key, path);
  const pattern = key === 'mqttKey' ? /-----BEGIN [A-Z ]*PRIVATE KEY-----/ : /-----BEGIN CERTIFICATE-----/;
  if (!pattern.test(bytes.toString('latin1'))) throw usage(key, `${path} is not a PEM ${key === 'mqttKey' ? 'private key' : 'certificate'}`);
  return bytes;
}

/**
 * Reads and checks everything given; undefined when nothing is (the image is not provisioned).
 * Throws ERR_OTA_USAGE (or ERR_OTA_KEY for a key set that is not public Ed25519 keys) naming the option.
 */
export async function planProvision(input: ProvisionInput): Promise<ProvisionPlan | undefined> {
  if (Object.values(input).every((v) => v === undefined)) return undefined;
  checkValues(input);
  const files: ProvisionFile[] = [];
  const mqtt: Record<string, unknown> = {};
  const layer: Record<string, unknown> = { deviceId: input.deviceId ?? { fromMachineId: true } };
  if (input.group !== undefined) layer.group = input.group;
  if (input.remote !== undefined) layer.remote = input.remote;
  let kids: string[] = [];
  if (input.trustedKeys !== undefined) {
    await readGiven('trustedKeys', input.trustedKeys);
    const trusted = await loadTrustedKeys(input.trustedKeys);
    kids = [...trusted.byKid.keys()];
    // Only the public parts the check accepted, whatever else the file held.
    const jwks = { keys: [...trusted.byKid.values()].map((k) => k.publicJwk) };
    files.push({ path: PROVISION_PATHS.trustedKeys, bytes: Buffer.from(`${JSON.stringify(jwks, null, 2)}\n`), mode: 0o644 });
    layer.trustedKeys = PROVISION_PATHS.trustedKeys;
  }
  if (input.broker !== undefined) {
    mqtt.url = input.broker;
    const add = async (key: 'mqttCa' | 'mqttCert' | 'mqttKey', field: string, path: string, mode: number) => {
      files.push({ path, bytes: await pemFile(key, input[key]!), mode });
      mqtt[field] = path;
    };
    if (input.mqttCa !== undefined) await add('mqttCa', 'caFile', PROVISION_PATHS.mqttCa, 0o644);
    if (input.mqttCert !== undefined) await add('mqttCert', 'certFile', PROVISION_PATHS.mqttCert, 0o644);
    if (input.mqttKey !== undefined) await add('mqttKey', 'keyFile', PROVISION_PATHS.mqttKey, 0o600);
    if (input.mqttUsername !== undefined) mqtt.username = input.mqttUsername;
    if (input.mqttPasswordFile !== undefined) {
      files.push({ path: PROVISION_PATHS.mqttPassword, bytes: await readGiven('mqttPasswordFile', input.mqttPasswordFile), mode: 0o600 });
      mqtt.passwordFile = PROVISION_PATHS.mqttPassword;
    }
    layer.mqtt = mqtt;
  }
  const text = `# Written by ota image: what this image's devices are (docs/agent.md, "Provisioning by ota image").\n${stringify(layer)}`;
  files.unshift({ path: PROVISION_PATHS.layer, bytes: Buffer.from(text), mode: 0o644 });
  const summary: ProvisionSummary = {
    deviceId: input.deviceId ?? null,
    group: input.group ?? null,
    remote: input.remote ?? null,
    broker: input.broker ?? null,
    trustedKeys: kids,
    mqtt: { ca: input.mqttCa !== undefined, clientCertificate: input.mqttCert !== undefined, username: input.mqttUsername ?? null, password: input.mqttPasswordFile !== undefined },
    files: files.map((f) => ({ path: f.path, mode: f.mode.toString(8).padStart(4, '0') })),
  };
  return { layer, files, summary };
}

/** Writes the plan's files under `root` (a deployment's root), each atomically and with its exact mode. */
export async function writeProvision(root: string, plan: ProvisionPlan): Promise<void> {
  for (const f of plan.files) {
    const dest = join(root, f.path);
    await writeFileAtomic(dest, f.bytes, f.mode);
    await chmod(dest, f.mode);
  }
}

const text = z.string().min(1).max(4096);
/** `--provision FILE`: the same settings as the options, in camelCase; file paths relative to the file. */
export const provisionFileSchema = z.strictObject({
  deviceId: text.optional(),
  group: text.optional(),
  broker: text.optional(),
  remote: text.optional(),
  trustedKeys: text.optional(),
  mqttCa: text.optional(),
  mqttCert: text.optional(),
  mqttKey: text.optional(),
  mqttUsername: text.optional(),
  mqttPasswordFile: text.optional(),
});

const FILE_KEYS = ['trustedKeys', 'mqttCa', 'mqttCert', 'mqttKey', 'mqttPasswordFile'] as const;

/** The settings of a `--provision` file (strict: an unknown key is an error with its line), its paths made relative to where it is. */
export async function readProvisionFile(path: string): Promise<ProvisionInput> {
  let body: string;
  try {
    body = await readFile(path, 'utf8');
  } catch (e) {
    throw new OtaError('ERR_OTA_USAGE', `--provision ${path}: ${fsReason(e)}; no image was written`);
  }
  const parsed: ProvisionInput = parseStrictYaml(body, path, provisionFileSchema, { code: 'ERR_OTA_USAGE', hint: 'see docs/agent.md, "Provisioning by ota image"' }) ?? {};
  for (const k of FILE_KEYS) {
    const v = parsed[k];
    if (v !== undefined && !isAbsolute(v)) parsed[k] = resolvePath(dirname(path), v);
  }
  return parsed;
}

/** The options over the file: a setting given on the command line wins. */
export function mergeProvision(file: ProvisionInput, options: ProvisionInput): ProvisionInput {
  const out: ProvisionInput = { ...file };
  for (const [k, v] of Object.entries(options) as [keyof ProvisionInput, string | undefined][]) if (v !== undefined) out[k] = v;
  return out;
}
