import type { Command } from 'commander';
import { printJson } from '../../../common/cli-json.js';
import { OtaError } from '../../../common/errors.js';
import { versionProblem } from '../../../contract/index.js';
import { fleetRollback, type FleetRollbackResult } from '../../fleet/rollback.js';
import type { DeviceTrack } from '../../fleet/rollback-track.js';
import type { CliIo } from '../io.js';
import { addBrokerOptions, brokerOptions, parseId, type BrokerFlags } from './fleet-broker.js';
import { untilInterrupted } from './fleet-watch.js';

/**
 * `ota fleet rollback (--device D | --group G) [--to V] [--below-floor] --key DIR`: one signed
 * rollback command, then each device's confirmation (back on the version, healthy) as it
 * arrives (docs/fleet.md, "ota fleet rollback"). Exit 0 when every device in scope confirmed
 * (or was skipped by `onlyFrom`), 1 when one refused, failed or did not answer in time.
 *
 * @example
 * // $ ota fleet rollback --device gw-1 --to 1.1 --key keys/ --broker mqtt://127.0.0.1:1883
 * // [1/1] gw-1: confirmed: back on 1.1, idle
 * // rollback of device gw-1 to 1.1: 1 confirmed, 0 refused, 0 failed, 0 skipped, 0 pending, in 4.2 s
 */
interface RollbackFlags extends BrokerFlags {
  device?: string;
  group?: string;
  to?: string;
  belowFloor?: boolean;
  key: string;
  timeout: number;
  reason?: string;
  json?: boolean;
}

export function registerFleetRollback(fleet: Command, io: CliIo): void {
  const cmd = fleet
    .command('rollback')
    .description("send a signed rollback to a device or a group and show each device's confirmation (back on the version, healthy) as it arrives")
    .option('--device <id>', 'the device to roll back', parseId('device id'))
    .option('--group <group>', 'every device of this group (as their retained statuses say), with one command', parseId('group'))
    .option('--to <version>', 'a published version to go to (default: each device\'s rollback deployment)', parseVersion)
    .option('--below-floor', 'allow going below the anti-rollback floor (signed into the command; needs --to)')
    .requiredOption('--key <path>', 'the release key: a key DIR from `ota keys generate` or its release.jwk')
    .option('--timeout <duration>', 'how long to wait for the confirmations: 30s, 10m, 1h', parseTimeout, 600)
    .option('--reason <text>', "why, for the devices' journals")
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)');
  addBrokerOptions(cmd).action(async (opts: RollbackFlags) => {
    if ((opts.device === undefined) === (opts.group === undefined)) throw new OtaError('ERR_OTA_USAGE', 'give either --device ID or --group GROUP', { hint: 'ota fleet rollback --device gw-1 [--to 1.1] --key keys/ --broker URL' });
    const scope = opts.device !== undefined ? { device: opts.device } : { group: opts.group! };
    const stop = untilInterrupted();
    try {
      const r = await fleetRollback({
        broker: brokerOptions(opts),
        prefix: opts.prefix,
        key: opts.key,
        scope,
        ...(opts.to === undefined ? {} : { to: opts.to }),
        belowFloor: opts.belowFloor === true,
        reason: opts.reason ?? null,
        timeoutSeconds: opts.timeout,
        signal: stop.signal,
        onPublished: (p) => io.reporter.line(`sent rollback command ${p.nonce} on ${p.topic}: waiting for ${p.pending} of ${p.devices} device${p.devices === 1 ? '' : 's'}`),
        onOutcome: (t, c) => {
          if (!opts.json) io.out(`[${c.devices - c.pending}/${c.devices}] ${outcomeLine(t)}`);
        },
      });
      finish(io, r, opts.json === true);
    } finally {
      stop.dispose();
    }
  });
}

function finish(io: CliIo, r: FleetRollbackResult, json: boolean): void {
  const c = r.counts;
  const where = 'device' in r.scope ? `device ${r.scope.device}` : `group ${r.scope.group}`;
  const to = r.action.type === 'rollback' && r.action.version !== undefined ? ` to ${r.action.version}` : '';
  const summary = `rollback of ${where}${to}: ${c.confirmed} confirmed, ${c.refused} refused, ${c.failed} failed, ${c.skipped} skipped, ${c.pending} pending, in ${r.seconds.toFixed(1)} s`;
  const bad = r.devices.filter((t) => t.outcome === 'refused' || t.outcome === 'failed' || t.outcome === 'pending');
  if (bad.length > 0) {
    const why = c.pending > 0 ? `${c.pending} did not confirm within the timeout` : `${c.refused + c.failed} refused or failed`;
    throw new OtaError('ERR_OTA_NOT_CONFIRMED', `${summary}: ${why}`, {
      details: bad.map(outcomeLine),
      hint: c.pending > 0 ? 'a device that is offline gets the command when it returns, until it expires; see it with `ota fleet events DEVICE --follow`' : 'each line says why; `ota fleet events DEVICE` shows the device',
    });
  }
  if (json) printJson(io.out, { ...r, devices: r.devices.map(jsonTrack) });
  else io.out(summary);
}

function outcomeLine(t: DeviceTrack): string {
  if (t.outcome === 'pending') return `${t.device}: no confirmation (phase ${t.phase ?? '-'}, booted ${t.booted ?? '-'}${t.accepted ? ', command received' : ''})`;
  return `${t.device}: ${t.outcome}: ${t.reason ?? ''}`;
}

/** A device in the --json document (docs/cli-json.md). */
function jsonTrack(t: DeviceTrack) {
  return { device: t.device, outcome: t.outcome, reason: t.reason, from: t.from, target: t.target, booted: t.booted, phase: t.phase, accepted: t.accepted, at: t.at };
}

function parseVersion(v: string): string {
  const problem = versionProblem(v);
  if (problem !== undefined) throw new OtaError('ERR_OTA_USAGE', `--to: ${problem}`);
  return v;
}

/** 30s, 10m, 1h, or a plain number of seconds. */
function parseTimeout(v: string): number {
  const m = /^(\d+)([smh]?)$/.exec(v);
  const seconds = m ? Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600 }[m[2]!]! : 0;
  if (!m || seconds <= 0) throw new OtaError('ERR_OTA_USAGE', `--timeout takes a duration such as 30s, 10m or 1h, not "${v}"`);
  return seconds;
}
