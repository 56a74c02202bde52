import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import { ID_PATTERN, LIMITS } from '../../../contract/index.js';
import type { BrokerOptions } from '../../mqtt/client.js';

/**
 * The broker options `ota announce` and every `ota fleet` subcommand take, declared and parsed
 * once here: URL, username and password, a private CA and a client certificate for mutual TLS,
 * and the prefix.
 *
 * @example
 * addBrokerOptions(fleet.command('status'));
 * const broker = brokerOptions(opts);
 */
export interface BrokerFlags {
  broker: string;
  prefix: string;
  username?: string;
  password?: string;
  ca?: string;
  clientCert?: string;
  clientKey?: string;
  connectTimeout: number;
}

export function addBrokerOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--broker <url>', 'the broker: mqtt://HOST[:PORT] or mqtts://HOST[:PORT]')
    .option('--prefix <prefix>', 'MQTT topic prefix', 'ota')
    .option('--username <user>', 'MQTT username')
    .option('--password <password>', 'MQTT password (default: $OTA_MQTT_PASSWORD, which other users cannot read from the process list)')
    .option('--ca <file>', "PEM CA certificate that signed the broker's TLS certificate")
    .option('--client-cert <file>', 'PEM client certificate, for brokers that require mutual TLS')
    .option('--client-key <file>', 'PEM key of --client-cert')
    .option('--connect-timeout <seconds>', 'give up on a broker that does not answer', parseSeconds, 10);
}

export function brokerOptions(f: BrokerFlags): BrokerOptions {
  const password = f.password ?? process.env.OTA_MQTT_PASSWORD;
  return { url: f.broker, username: f.username, password, caFile: f.ca, certFile: f.clientCert, keyFile: f.clientKey, connectTimeoutSeconds: f.connectTimeout };
}

function parseSeconds(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0 && n <= 600)) throw new OtaError('ERR_OTA_USAGE', `--connect-timeout takes seconds, more than 0 and at most 600, not "${v}"`);
  return n;
}

/** Checks a `--group` or device id argument as the contract's topics would. */
export function parseId(what: string) {
  return (v: string): string => {
    if (v.length > LIMITS.idChars || !ID_PATTERN.test(v)) {
      throw new OtaError('ERR_OTA_USAGE', `invalid ${what} ${JSON.stringify(v)}`, { hint: `a ${what} is 1 to ${LIMITS.idChars} letters, digits, ".", "_" or "-", starting with a letter or digit` });
    }
    return v;
  };
}
