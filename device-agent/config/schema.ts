import { z } from 'zod';
import { ID_PATTERN, LIMITS } from '../../contract/index.js';

/**
 * The agent's configuration (docs/agent.md, "Configuration"): what one device is, where its
 * updates come from, which bootloader counts its boots, how its health is judged and when it may
 * reboot. Strict: an unknown key is an error with its file and line, never ignored. Units are in
 * the names (docs/conventions.md, "Config is strict").
 *
 * @example
 * const config: AgentConfig = agentConfigSchema.parse(merged);
 */
const deviceName = z.string().min(1).max(LIMITS.idChars).regex(ID_PATTERN, 'letters, digits, ".", "_" and "-", starting with a letter or digit');
const absolutePath = z.string().regex(/^\/(?!.*(^|\/)\.\.(\/|$)).*$/, 'an absolute path without ".."');
const seconds = z.number().int().positive().max(24 * 3600);
const byteCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const unitName = z.string().regex(/^[A-Za-z0-9:_.\\@-]+\.(service|socket|target|mount|timer|path)$/, 'a systemd unit name such as sshd.service');
const clockTime = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'a time of day as HH:MM (24-hour, UTC)');

const bootlimit = z.number().int().min(1).max(10);
/** Where GRUB finds a file at boot: a filesystem label or UUID, and the path on it (bootloader/grub/config.ts). */
const grubLocation = z.strictObject({ label: z.string().optional(), uuid: z.string().optional(), path: z.string() });

export const ubootConfigSchema = z.strictObject({
  kind: z.literal('uboot'),
  /** The mounted ota.env that the boot script counts boots in. */
  envPath: absolutePath,
  bootlimit: bootlimit.optional(),
});

export const grubConfigSchema = z.strictObject({
  kind: z.literal('grub'),
  /** The mounted grubenv. */
  envPath: absolutePath,
  /** The grub.cfg written again after each deploy and rollback. */
  configPath: absolutePath,
  /** The grubenv and OSTree's /boot as GRUB sees them at boot (board.yaml's bootloader.env). */
  envLocation: grubLocation,
  bootLocation: grubLocation,
  bootlimit: bootlimit.optional(),
});

/** Replaced whole by a later layer, never merged key by key: a U-Boot envPath inside a GRUB block would be nonsense. */
export const bootloaderConfigSchema = z.discriminatedUnion('kind', [ubootConfigSchema, grubConfigSchema]);

export const healthConfigSchema = z.strictObject({
  /** Each check is killed after this long. */
  checkTimeoutSeconds: seconds,
  /** All checks together: past it the update rolls back, however many checks are still running. */
  deadlineSeconds: seconds,
  /** Free space on the sysroot's filesystem below which the required disk check fails (0: no check). */
  minFreeDiskBytes: byteCount,
  /** MemAvailable below which the required memory check fails (0: no check). */
  minAvailableMemoryBytes: byteCount,
  /** systemd units that must be active. */
  requiredUnits: z.array(unitName).max(256),
  /** systemd units whose failure is only a warning. */
  wantedUnits: z.array(unitName).max(256),
  /** Folders with required.d/ and wanted.d/ scripts: ours and greenboot's, so teams bring their checks over. */
  scriptRoots: z.array(absolutePath).max(16),
});

export const maintenanceWindowSchema = z.strictObject({ start: clockTime, end: clockTime });

export const policyConfigSchema = z.strictObject({
  /** auto: reboot into the update as soon as it is deployed; manual: wait for `ota-agent` to be told. */
  reboot: z.enum(['auto', 'manual']),
  /** Updates are applied (deployed, rebooted into) only inside this daily window, in UTC; it may cross midnight. */
  maintenanceWindow: maintenanceWindowSchema.nullable(),
  /** Download now, apply later (when told, or at the next window). */
  downloadOnly: z.boolean(),
});

const fileOrNull = absolutePath.nullable();
const mqttUrl = z.string().max(2048).regex(/^mqtts?:\/\/[^/]+\/?$/, 'mqtt://HOST[:PORT] or mqtts://HOST[:PORT]');
const topicPrefix = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^/+#\0]+(\/[^/+#\0]+)*$/, 'levels without "+", "#" or empty levels, separated by single slashes (ota, plant-3/ota)');
/** Fractions of a second down to 0.05 let soak tests run thousands of cycles; 0 turns the timer off. */
const telemetrySeconds = z.number().nonnegative().max(24 * 3600).refine((n) => n === 0 || n >= 0.05, '0 (off) or at least 0.05');

/**
 * The broker (docs/agent.md, "Configuration"): null (the default) means no broker, HTTP polling only.
 * Merged key by key like health and policy; `url` is required once the block is there.
 */
const mqttObject = z.strictObject({
  url: mqttUrl,
  topicPrefix,
  /** auto: MQTT 5, then 3.1.1 when the broker refuses 5. */
  protocol: z.enum(['auto', '5', '3.1.1']),
  /** PEM CA of the broker's certificate; null: the system's CAs. */
  caFile: fileOrNull,
  /** Client certificate and key for mutual TLS: both or neither. */
  certFile: fileOrNull,
  keyFile: fileOrNull,
  username: z.string().min(1).max(256).nullable(),
  /** A file holding the password, read at start: the password never sits in the YAML. */
  passwordFile: fileOrNull,
  keepaliveSeconds: z.number().int().min(5).max(3600),
  /** MQTT 5's persistent session; on 3.1.1 clean: false alone keeps it. */
  sessionExpirySeconds: z.number().int().nonnegative().max(0xffffffff),
  reconnectMinSeconds: z.number().positive().max(3600),
  reconnectMaxSeconds: z.number().positive().max(24 * 3600),
  maxPayloadBytes: z.number().int().min(1024).max(4 * 1024 * 1024),
  statusMinIntervalMs: z.number().int().nonnegative().max(3_600_000),
  telemetryIntervalSeconds: telemetrySeconds,
  /** Past this long without a broker, the relay polls over HTTP every awayPollSeconds. */
  brokerAwaySeconds: z.number().positive().max(7 * 24 * 3600),
  awayPollSeconds: z.number().positive().max(7 * 24 * 3600),
});

export const mqttConfigSchema = mqttObject
  .refine((m) => (m.certFile === null) === (m.keyFile === null), { message: 'certFile and keyFile go together: give both or neither', path: ['keyFile'] })
  .refine((m) => m.reconnectMinSeconds <= m.reconnectMaxSeconds, { message: 'reconnectMinSeconds must not exceed reconnectMaxSeconds', path: ['reconnectMinSeconds'] });

const mqttLayerSchema = mqttObject.partial();

/** Every key but the URL, as a device gets it when its files set only `mqtt.url`. */
export const MQTT_DEFAULTS: Omit<MqttConfig, 'url'> = {
  topicPrefix: 'ota',
  protocol: 'auto',
  caFile: null,
  certFile: null,
  keyFile: null,
  username: null,
  passwordFile: null,
  keepaliveSeconds: 60,
  sessionExpirySeconds: 7 * 24 * 3600,
  reconnectMinSeconds: 1,
  reconnectMaxSeconds: 300,
  maxPayloadBytes: 4 * 1024 * 1024,
  statusMinIntervalMs: 1000,
  telemetryIntervalSeconds: 60,
  brokerAwaySeconds: 300,
  awayPollSeconds: 900,
};

const topLevel = {
  deviceId: deviceName,
  group: deviceName,
  /** The published directory's base URL (the one `ota serve` or any static server exposes). */
  remote: z.url({ protocol: /^(https?|file)$/ }),
  /** The release keys the device trusts: a release.pub.jwks file (contract/keys.ts loadTrustedKeys). */
  trustedKeys: absolutePath,
  board: deviceName,
  arch: z.string().min(1).max(32).regex(/^[a-z0-9][a-z0-9-]*$/, 'a Debian architecture such as arm64'),
  /** The OSTree OS name the device's deployments belong to. */
  osname: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'an OSTree OS name such as debian'),
  /** The OSTree sysroot: `/` on a device, a folder in tests and image builds. */
  sysroot: absolutePath,
  /** Where the state record and the lock live. */
  stateDir: absolutePath,
  /**
   * The kernel command line whose `ostree=` names the running deployment when libostree finds none booted (a
   * sysroot in a folder: the stand-in boot writes what the bootloader would pass).
   */
  kernelCommandLine: absolutePath,
  /** The argv that asks the system to reboot (run through common/exec.ts, never a shell). */
  rebootCommand: z.array(z.string().min(1).max(4096)).min(1).max(64),
  /** How often the daemon checks the group's release, each wait jittered by ±10%; 0: never. */
  pollIntervalSeconds: z.number().int().nonnegative().max(7 * 24 * 3600),
  bootloader: bootloaderConfigSchema,
  health: healthConfigSchema,
  policy: policyConfigSchema,
  mqtt: mqttConfigSchema.nullable(),
};

export const agentConfigSchema = z.strictObject(topLevel);
export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type BootloaderConfig = z.infer<typeof bootloaderConfigSchema>;
export type HealthConfig = z.infer<typeof healthConfigSchema>;
export type PolicyConfig = z.infer<typeof policyConfigSchema>;
export type MqttConfig = z.infer<typeof mqttConfigSchema>;
export type MaintenanceWindow = z.infer<typeof maintenanceWindowSchema>;

/**
 * `deviceId: { fromMachineId: true }`: the id is derived from /etc/machine-id when the configuration is
 * loaded (docs/agent.md, "The device's id"), so one image serves every device. An object, not a magic
 * string, so that no valid name ever means something else.
 */
export const fromMachineIdSchema = z.strictObject({ fromMachineId: z.literal(true) });
export type FromMachineId = z.infer<typeof fromMachineIdSchema>;

/**
 * One file's worth: every key optional, nested blocks too (health and policy merge key by key),
 * except the bootloader, which a layer gives whole.
 */
export const agentConfigLayerSchema = z.strictObject({
  ...Object.fromEntries(Object.entries(topLevel).map(([k, v]) => [k, v.optional()])),
  deviceId: z.union([deviceName, fromMachineIdSchema]).optional(),
  health: healthConfigSchema.partial().optional(),
  policy: policyConfigSchema.partial().optional(),
  mqtt: mqttLayerSchema.nullable().optional(),
}) as unknown as z.ZodType<AgentConfigLayer>;

export type AgentConfigLayer = Partial<Omit<AgentConfig, 'deviceId' | 'health' | 'policy' | 'mqtt'>> & {
  /** A name, or derived from /etc/machine-id when the configuration is loaded (machine-id.ts). */
  deviceId?: string | FromMachineId;
  health?: Partial<HealthConfig>;
  policy?: Partial<PolicyConfig>;
  /** null in a layer removes the broker a lower layer set. */
  mqtt?: Partial<MqttConfig> | null;
};

/** The built-in layer, under every file: what a device gets for each key it does not set. */
export const BUILT_IN_DEFAULTS: AgentConfigLayer = {
  group: 'default',
  trustedKeys: '/etc/ota/release.pub.jwks',
  osname: 'debian',
  sysroot: '/',
  stateDir: '/var/lib/ota',
  kernelCommandLine: '/proc/cmdline',
  rebootCommand: ['systemctl', 'reboot'],
  pollIntervalSeconds: 3600,
  health: {
    checkTimeoutSeconds: 60,
    // greenboot's default waits up to an hour for units; five minutes bounds a bad update's stay.
    deadlineSeconds: 300,
    minFreeDiskBytes: 64 * 1024 * 1024,
    minAvailableMemoryBytes: 16 * 1024 * 1024,
    requiredUnits: [],
    wantedUnits: [],
    scriptRoots: ['/etc/ota/health', '/etc/greenboot/check'],
  },
  policy: { reboot: 'auto', maintenanceWindow: null, downloadOnly: false },
  mqtt: null,
};
