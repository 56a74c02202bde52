import { readFile } from '../lean-fs.js';
import type { IClientOptions } from 'mqtt';
import { OtaError } from '../errors.js';

/**
 * How to reach a broker, shared by the host tools' one-shot client (host-tools/mqtt/client.ts)
 * and the device's long-lived session (common/mqtt/session.ts): mqtt:// or mqtts://, username
 * and password, a private CA, a client certificate for mutual TLS, and the protocol version.
 *
 * @example
 * const { display, base } = await mqttClientOptions({ url: 'mqtts://broker:8883', caFile: '/etc/ota/ca.pem' });
 */
export interface MqttConnectOptions {
  /** mqtt://host[:port] or mqtts://host[:port]; credentials in the URL are taken too. */
  url: string;
  username?: string;
  password?: string;
  /** PEM file of the CA that signed the broker's certificate (default: the system's CAs). */
  caFile?: string;
  /** PEM files of a client certificate and its key, for brokers that require mutual TLS. */
  certFile?: string;
  keyFile?: string;
  /** Default 10. */
  connectTimeoutSeconds?: number;
  /** 'auto' (default) tries 5, then 3.1.1 when the broker refuses that version. */
  protocol?: 'auto' | '5' | '3.1.1';
  clientId?: string;
}

/** What the caller's user calls each setting, for messages: command-line options, or configuration keys. */
export interface SettingNames {
  url: string;
  ca: string;
  cert: string;
  key: string;
}

export const CLI_SETTING_NAMES: SettingNames = { url: '--broker', ca: '--ca', cert: '--client-cert', key: '--client-key' };

/** The URL for messages (no credentials) and mqtt.js's options, files read and checked first. */
export async function mqttClientOptions(o: MqttConnectOptions, names: SettingNames = CLI_SETTING_NAMES): Promise<{ display: string; base: IClientOptions }> {
  let u: URL;
  try {
    u = new URL(o.url);
  } catch {
    throw new OtaError('ERR_OTA_USAGE', `${names.url} ${o.url} is not a URL`, { hint: 'write mqtt://HOST:PORT or mqtts://HOST:PORT' });
  }
  if (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:') {
    throw new OtaError('ERR_OTA_USAGE', `${names.url} ${o.url}: the scheme must be mqtt:// or mqtts://, not ${u.protocol}//`, { hint: 'write mqtt://HOST:PORT or mqtts://HOST:PORT' });
  }
  if ((o.certFile === undefined) !== (o.keyFile === undefined)) {
    throw new OtaError('ERR_OTA_USAGE', `a client certificate needs both ${names.cert} and ${names.key}`);
  }
  const display = `${u.protocol}//${u.host}`;
  const base: IClientOptions = {
    reconnectPeriod: 0,
    // Our own timer (connectOnce) says when to give up; mqtt.js's only backs it up.
    connectTimeout: ((o.connectTimeoutSeconds ?? 10) + 5) * 1000,
    clean: true,
    ...(o.clientId !== undefined ? { clientId: o.clientId } : {}),
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...(o.caFile !== undefined ? { ca: await readPem(o.caFile, names.ca) } : {}),
    ...(o.certFile !== undefined ? { cert: await readPem(o.certFile, names.cert) } : {}),
    ...(o.keyFile !== undefined ? { key: await readPem(o.keyFile, names.key) } : {}),
  };
  return { display, base };
}

async function readPem(path: string, setting: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new OtaError('ERR_OTA_USAGE', `${setting} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { hint: 'give a PEM file', cause: e });
  }
}

/** The MQTT protocol levels to try, in order: 5 is level 5, 3.1.1 is level 4. */
export function protocolLevels(protocol: MqttConnectOptions['protocol']): (4 | 5)[] {
  return protocol === '5' ? [5] : protocol === '3.1.1' ? [4] : [5, 4];
}
