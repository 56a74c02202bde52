import type { Command } from 'commander';
import { OtaError } from '../../../common/errors.js';
import { makeImage } from '../../image/disk-image.js';
import { formatMiB } from '../../image/disk-plan.js';
import { mergeProvision, planProvision, readProvisionFile, type ProvisionInput, type ProvisionSummary } from '../../image/provision.js';
import { requireRepo } from '../input-repo.js';
import { printJson } from '../../../common/cli-json.js';
import type { CliIo } from '../io.js';

/** `ota image`: a board's initial disk image from a built commit. */
export function registerImage(program: Command, io: CliIo): void {
  const { out } = io;
  program
    .command('image')
    .description("make a board's initial disk image (partitions, OSTree sysroot, boot files, block map) from a built commit")
    .requiredOption('--board <name>', 'board name (boards/<name>) or path of a board.yaml')
    .requiredOption('--repo <dir>', 'the OSTree repository holding the commit')
    .requiredOption('--ref <ref>', 'ref or checksum of the commit (`ota build` prints it)')
    .requiredOption('-o, --output <disk.img>', 'the image file to write (and <disk.img>.bmap)')
    .option('--size <size>', 'total size, e.g. 4GiB or 2048MiB (default: the partitions plus room for an update)', parseSizeOption)
    .option('--remote-url <url>', 'where the device pulls updates from (the remote `ota`)')
    .option('--os <name>', "OSTree's name for the OS (default: the image name)")
    .option('--device-id <id>', "the device's id (default: derived from /etc/machine-id at first boot)")
    .option('--group <name>', 'the fleet group the device belongs to')
    .option('--broker <url>', "the MQTT broker, mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    .option('--remote <url>', 'the published directory the agent reads releases from')
    .option('--trusted-keys <file>', 'the release.pub.jwks of `ota keys` the device trusts')
    .option('--mqtt-ca <file>', "PEM CA of the broker's certificate")
    .option('--mqtt-cert <file>', 'PEM client certificate for mutual TLS (with --mqtt-key)')
    .option('--mqtt-key <file>', 'PEM private key of the client certificate (written 0600)')
    .option('--mqtt-username <name>', 'MQTT user name')
    .option('--mqtt-password-file <file>', 'a file holding the MQTT password (written 0600)')
    .option('--provision <file>', 'these settings from a YAML file (keys deviceId, group, broker, ...); options win')
    .option('-q, --quiet', 'print only warnings and the summary')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md); progress stays on stderr')
    .action(async (opts: ImageOpts) => {
      // Checked before the repository is opened or anything written.
      const provision = await planProvision(mergeProvision(opts.provision ? await readProvisionFile(opts.provision) : {}, provisionOptions(opts)));
      await requireRepo(opts.repo);
      const reporter = io.reporter;
      const started = Date.now();
      const r = await makeImage({ board: opts.board, repoPath: opts.repo, ref: opts.ref, output: opts.output, sizeBytes: opts.size, remoteUrl: opts.remoteUrl, osname: opts.os, provision, onEvent: reporter.event });
      reporter.clear();
      const seconds = (Date.now() - started) / 1000;
      if (opts.json) {
        const { table, totalBytes, partitions } = r.plan;
        printJson(out, { output: r.output, bmap: r.bmap, table, totalBytes, mappedBytes: r.mappedBytes, partitions, rootUuid: r.rootUuid, deployment: r.deployment, kargs: r.kargs, provisioned: r.provisioned, seconds });
        return;
      }
      for (const p of r.plan.partitions) out(`  ${p.number} ${p.label.padEnd(8)} ${p.fs.padEnd(5)} ${formatMiB(p.sizeBytes).padStart(9)} at ${formatMiB(p.offsetBytes)}`);
      out(`  kernel arguments: ${r.kargs.join(' ')}`);
      if (r.provisioned) out(`  provisioned: ${describeProvision(r.provisioned)}`);
      out(`${r.output}: ${r.plan.table} ${formatMiB(r.plan.totalBytes)}, ${formatMiB(r.mappedBytes)} of data (block map ${r.bmap}) in ${seconds.toFixed(1)}s`);
    });
}

interface ImageOpts extends ProvisionInput {
  board: string;
  repo: string;
  ref: string;
  output: string;
  size?: number;
  remoteUrl?: string;
  os?: string;
  provision?: string;
  quiet?: boolean;
  json?: boolean;
}

function provisionOptions(o: ImageOpts): ProvisionInput {
  const { deviceId, group, broker, remote, trustedKeys, mqttCa, mqttCert, mqttKey, mqttUsername, mqttPasswordFile } = o;
  return { deviceId, group, broker, remote, trustedKeys, mqttCa, mqttCert, mqttKey, mqttUsername, mqttPasswordFile };
}

function describeProvision(p: ProvisionSummary): string {
  const parts = [p.deviceId === null ? 'device id from machine-id' : `device ${p.deviceId}`];
  if (p.group !== null) parts.push(`group ${p.group}`);
  if (p.broker !== null) parts.push(`broker ${p.broker}${p.mqtt.clientCertificate ? ' (client certificate)' : ''}${p.mqtt.password ? ' (password)' : ''}`);
  if (p.remote !== null) parts.push(`remote ${p.remote}`);
  if (p.trustedKeys.length > 0) parts.push(`${p.trustedKeys.length} trusted key${p.trustedKeys.length > 1 ? 's' : ''}`);
  return parts.join(', ');
}

function parseSizeOption(v: string): number {
  const m = /^(\d+)(KiB|MiB|GiB|K|M|G)?$/.exec(v);
  if (!m) throw new OtaError('ERR_OTA_USAGE', `--size takes a size such as 4GiB or 2048MiB, not "${v}"`);
  const unit = { K: 1024, KiB: 1024, M: 1024 ** 2, MiB: 1024 ** 2, G: 1024 ** 3, GiB: 1024 ** 3 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}
