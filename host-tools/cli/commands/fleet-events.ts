import type { Command } from 'commander';
import { printJson } from '../../../common/cli-json.js';
import type { DeviceRow } from '../../fleet/device-view.js';
import { deviceEvents, type EventMessage } from '../../fleet/events.js';
import type { CliIo } from '../io.js';
import { addBrokerOptions, brokerOptions, parseId, type BrokerFlags } from './fleet-broker.js';
import { deviceLine, untilInterrupted } from './fleet-watch.js';

/**
 * `ota fleet events DEVICE`: the device's last result from its retained status, and with
 * `--follow` its update events as they arrive, until Ctrl-C (docs/fleet.md, "ota fleet events").
 * The broker keeps no events, so none from before the command started can be shown.
 *
 * @example
 * // $ ota fleet events gw-1 --broker mqtt://127.0.0.1:1883 --follow
 * // gw-1 presence=online booted=1.2 staged=- phase=idle progress=- health=ok error=-
 * // 2026-03-01T12:00:00Z checking update 1.3
 */
interface EventsFlags extends BrokerFlags {
  follow?: boolean;
  json?: boolean;
}

export function registerFleetEvents(fleet: Command, io: CliIo): void {
  const cmd = fleet
    .command('events')
    .description("a device's last result from its retained status and, with --follow, its update events as they arrive")
    .argument('<device>', 'the device id', parseId('device id'))
    .option('--follow', 'keep printing events and status changes until Ctrl-C')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md); with --follow, one line per event or change');
  addBrokerOptions(cmd).action(async (device: string, opts: EventsFlags) => {
    const stop = untilInterrupted();
    const seen: EventMessage[] = [];
    let lastStatus = '';
    const follow = opts.follow === true;
    const json = opts.json === true;
    try {
      const r = await deviceEvents({
        broker: brokerOptions(opts),
        prefix: opts.prefix,
        device,
        follow,
        signal: stop.signal,
        onEvent: (m) => {
          if (!follow) return void seen.push(m);
          io.out(json ? JSON.stringify(m.ok ? { event: m.event } : { malformed: m.reason }) : eventLine(m));
        },
        onStatus: (row) => {
          const line = statusLine(device, row);
          if (!follow || line === lastStatus) return;
          lastStatus = line;
          io.out(json ? JSON.stringify({ status: row }) : line);
        },
      });
      if (!follow) printOnce(io, { device, json, row: r.row, burstEnd: r.burstEnd, seen });
    } finally {
      stop.dispose();
    }
  });
}

function printOnce(io: CliIo, r: { device: string; json: boolean; row: DeviceRow | null; burstEnd: string; seen: EventMessage[] }): void {
  if (r.json) {
    const events = r.seen.map((m) => (m.ok ? { event: m.event } : { malformed: m.reason }));
    printJson(io.out, { device: r.device, burstEnd: r.burstEnd, status: r.row, events });
  } else {
    io.out(statusLine(r.device, r.row));
    for (const m of r.seen) io.out(eventLine(m));
  }
  io.reporter.line('note: the broker keeps no events; --follow shows them as they happen (docs/fleet.md, "ota fleet events")');
}

function statusLine(device: string, row: DeviceRow | null): string {
  if (row === null) return `${device}: nothing retained (no status or presence): it never connected, or it uses another --prefix`;
  const update = row.updateId === null ? '' : ` update=${row.updateId}`;
  const error = row.lastError === null ? '' : ` last-error=${row.lastError.code}: ${row.lastError.message} (${row.lastError.at})`;
  return `${deviceLine(row)}${update}${error}`;
}

function eventLine(m: EventMessage): string {
  if (!m.ok) return `${new Date().toISOString()} event ${m.reason}`;
  const e = m.event;
  return `${e.time} ${e.type}${e.updateId === null ? '' : ` update ${e.updateId}`}${e.reason === null ? '' : `: ${e.reason}`}`;
}
