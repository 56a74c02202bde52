import type { Command } from 'commander';
import { printJson } from '../../../common/cli-json.js';
import { OtaError } from '../../../common/errors.js';
import { DEFAULT_BROKER_NAMES, fleetAcl, type FleetAclReport } from '../../fleet/acl.js';
import { ROTATIONS, type Rotation } from '../../fleet/acl-plan.js';
import type { CliIo } from '../io.js';

/**
 * `ota fleet acl --devices FILE -o DIR`: broker users, ACL and certificates for a fleet
 * (docs/fleet.md, "Access control"). It joins the `ota fleet` group, or makes it when it is
 * registered first.
 *
 * @example
 * // $ ota fleet acl --devices fleet.yaml -o acl/ --json
 */
export function registerFleetAcl(program: Command, io: CliIo): void {
  const fleet = program.commands.find((c) => c.name() === 'fleet') ?? program.command('fleet').description('run a fleet of devices over MQTT: access control, status, rollouts');
  fleet
    .command('acl')
    .description('write Mosquitto password and ACL files, a CA and per-device client certificates for a devices file; `ota serve --broker-acl` takes the same folder')
    .requiredOption('--devices <file>', 'YAML or JSON: devices: [{ id, group }], optionally operators: [name]')
    .requiredOption('-o, --out <dir>', 'the output folder; a re-run keeps its CA, keys and passwords and adds new devices')
    .option('--prefix <prefix>', 'MQTT topic prefix of the fleet', 'ota')
    .option('--broker-name <names>', 'host names and IP addresses in the broker certificate, comma-separated', DEFAULT_BROKER_NAMES.join(','))
    .option('--rotate <what>', `replace credentials a re-run would keep: ${ROTATIONS.join(', ')} (comma-separated; ca also replaces every certificate)`, parseRotate)
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)')
    .action(async (opts: { devices: string; out: string; prefix: string; brokerName: string; rotate?: Rotation[]; json?: boolean }) => {
      const r = await fleetAcl({ devicesFile: opts.devices, out: opts.out, prefix: opts.prefix, brokerNames: opts.brokerName.split(',').filter((n) => n !== ''), rotate: opts.rotate, onEvent: io.reporter.event });
      if (opts.json) return printJson(io.out, r);
      printSummary(io.out, r);
    });
}

function parseRotate(v: string): Rotation[] {
  const parts = v.split(',').filter((p) => p !== '');
  for (const p of parts) {
    if (!(ROTATIONS as readonly string[]).includes(p)) throw new OtaError('ERR_OTA_USAGE', `--rotate takes ${ROTATIONS.join(', ')}, not "${p}"`, { hint: 'e.g. --rotate passwords,certs' });
  }
  return parts as Rotation[];
}

function printSummary(out: (line: string) => void, r: FleetAclReport): void {
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const newPw = r.users.filter((u) => u.password === 'new').length;
  const newCerts = r.users.filter((u) => u.cert === 'new').length;
  out(`broker files: ${r.files.conf}, ${r.files.passwd}, ${r.files.acl}`);
  out(`users' credentials: ${r.dir}/devices/<id>/ and ${r.dir}/operators/<name>/ (password and client.key 0600)`);
  if (r.removed.length > 0) out(`removed: ${r.removed.join(', ')}`);
  out(`ota fleet acl: ${count(r.devices, 'device')} and ${count(r.operators, 'operator')} in ${r.dir} (prefix ${r.prefix}); CA ${r.ca}, ${count(r.added.length, 'user')} added, ${count(r.removed.length, 'user')} removed, ${newPw} new password${newPw === 1 ? '' : 's'}, ${count(newCerts, 'new certificate')}`);
}
