import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import { announce } from '../../announce/announce.js';
import { printJson } from '../../../common/cli-json.js';
import type { CliIo } from '../io.js';

/**
 * `ota announce --broker URL --group G --release MANIFEST.jws`: the signed release, retained, on
 * the group's topic of any MQTT broker (docs/releases.md, "Announcing").
 *
 * @example
 * // $ ota announce --broker mqtt://127.0.0.1:1883 --group lab --release PUBLISHED/releases/os/1.2.jws --key keys/
 * // announced os 1.2 (commit 3f2a...) to group lab: ota/groups/lab/release on mqtt://127.0.0.1:1883, retained, acknowledged; signature verified (key Ab3...)
 */
interface AnnounceFlags {
  broker: string;
  group: string;
  release: string;
  prefix: string;
  key?: string;
  username?: string;
  password?: string;
  ca?: string;
  clientCert?: string;
  clientKey?: string;
  connectTimeout: number;
  json?: boolean;
}

export function registerAnnounce(program: Command, io: CliIo): void {
  program
    .command('announce')
    .description("publish a signed release manifest, retained with QoS 1, on a group's MQTT topic")
    .requiredOption('--broker <url>', 'the broker: mqtt://HOST[:PORT] or mqtts://HOST[:PORT]')
    .requiredOption('--group <group>', 'the device group to announce to')
    .requiredOption('--release <manifest.jws>', 'the release manifest (PUBLISHED/releases/<ref>/<version>.jws)')
    .option('--prefix <prefix>', 'MQTT topic prefix', 'ota')
    .option('--key <pub>', 'trusted public release keys (release.pub.jwks or its directory): verify the manifest before sending')
    .option('--username <user>', 'MQTT username')
    .option('--password <password>', 'MQTT password (default: $OTA_MQTT_PASSWORD, which other users cannot read from the process list)')
    .option('--ca <file>', 'PEM CA certificate that signed the broker\'s TLS certificate')
    .option('--client-cert <file>', 'PEM client certificate, for brokers that require mutual TLS')
    .option('--client-key <file>', 'PEM key of --client-cert')
    .option('--connect-timeout <seconds>', 'give up on a broker that does not answer', parseSeconds, 10)
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)')
    .action(async (opts: AnnounceFlags) => {
      const password = opts.password ?? process.env.OTA_MQTT_PASSWORD;
      const r = await announce({
        broker: { url: opts.broker, username: opts.username, password, caFile: opts.ca, certFile: opts.clientCert, keyFile: opts.clientKey, connectTimeoutSeconds: opts.connectTimeout },
        group: opts.group,
        releaseFile: opts.release,
        prefix: opts.prefix,
        keyPath: opts.key,
      });
      if (r.manifestGroup !== null && r.manifestGroup !== r.group) io.reporter.line(`warning: the manifest was published for group ${r.manifestGroup}, and is announced to group ${r.group}`);
      if (!r.verified) io.reporter.line('warning: the signature was not verified (no --key); devices will verify it');
      if (opts.json) {
        printJson(io.out, r);
        return;
      }
      const how = r.verified ? `signature verified (key ${r.kid})` : 'signature NOT verified';
      io.out(`announced ${r.ref} ${r.version} (commit ${r.commit.slice(0, 12)}) to group ${r.group}: ${r.topic} on ${r.broker}, retained, acknowledged (MQTT ${r.protocol}); ${how}`);
    });
}

function parseSeconds(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0 && n <= 600)) throw new OtaError('ERR_OTA_USAGE', `--connect-timeout takes seconds, more than 0 and at most 600, not "${v}"`);
  return n;
}
