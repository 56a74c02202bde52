import type { Command } from 'commander';
import { announce } from '../../announce/announce.js';
import { printJson } from '../../../common/cli-json.js';
import type { CliIo } from '../io.js';
import { addBrokerOptions, brokerOptions, type BrokerFlags } from './fleet-broker.js';

/**
 * `ota announce --broker URL --group G --release MANIFEST.jws`: the signed release, retained, on
 * the group's topic of any MQTT broker (docs/releases.md, "Announcing").
 *
 * @example
 * // $ ota announce --broker mqtt://127.0.0.1:1883 --group lab --release PUBLISHED/releases/os/1.2.jws --key keys/
 * // announced os 1.2 (commit 3f2a...) to group lab: ota/groups/lab/release on mqtt://127.0.0.1:1883, retained, acknowledged; signature verified (key Ab3...)
 */
interface AnnounceFlags extends BrokerFlags {
  group: string;
  release: string;
  key?: string;
  json?: boolean;
}

export function registerAnnounce(program: Command, io: CliIo): void {
  const cmd = program
    .command('announce')
    .description("publish a signed release manifest, retained with QoS 1, on a group's MQTT topic")
    .requiredOption('--group <group>', 'the device group to announce to')
    .requiredOption('--release <manifest.jws>', 'the release manifest (PUBLISHED/releases/<ref>/<version>.jws)')
    .option('--key <pub>', 'trusted public release keys (release.pub.jwks or its directory): verify the manifest before sending')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)');
  addBrokerOptions(cmd).action(async (opts: AnnounceFlags) => {
    const r = await announce({
      broker: brokerOptions(opts),
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
