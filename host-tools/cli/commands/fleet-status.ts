import type { Command } from 'commander';
import { printJson } from '../../../common/cli-json.js';
import { deviceRow, fleetView, type DeviceRow, type FleetView } from '../../fleet/device-view.js';
import { burstWarning, readFleetStatus, watchFleetStatus } from '../../fleet/status.js';
import { statusLines } from '../../fleet/table.js';
import type { CliIo } from '../io.js';
import { addBrokerOptions, brokerOptions, parseId, type BrokerFlags } from './fleet-broker.js';
import { deviceLine, liveScreen, untilInterrupted } from './fleet-watch.js';

/**
 * `ota fleet status`: every device from the retained documents; `--watch` keeps it live until
 * Ctrl-C (docs/fleet.md, "ota fleet status").
 *
 * @example
 * // $ ota fleet status --broker mqtt://127.0.0.1:1883
 * // 3 devices: 2 online, 1 offline, 0 presence unknown
 * // versions: 1.2 2, 1.1 1
 */
interface StatusFlags extends BrokerFlags {
  group?: string;
  watch?: boolean;
  json?: boolean;
}

export function registerFleetStatus(fleet: Command, io: CliIo): void {
  const cmd = fleet
    .command('status')
    .description("every device's presence, versions, update phase and progress, health, last error and last seen, from its retained documents")
    .option('--group <group>', 'only the devices of this group (as their status says)', parseId('group'))
    .option('--watch', 'keep the table live (redrawn on a terminal, one line per change otherwise) until Ctrl-C')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md); with --watch, one line per change');
  addBrokerOptions(cmd).action(async (opts: StatusFlags) => {
    const base = { broker: brokerOptions(opts), prefix: opts.prefix, group: opts.group };
    if (opts.watch) return watch(io, base, opts.json === true);
    const r = await readFleetStatus(base);
    const warning = burstWarning(r.retainedMessages);
    if (warning !== null) io.reporter.line(warning);
    if (opts.json) printJson(io.out, statusDocument(r.view, { group: opts.group ?? null, burstEnd: r.burstEnd, retainedMessages: r.retainedMessages }));
    else for (const l of statusLines(r.view, new Date())) io.out(l);
    if (r.burstEnd === 'quiet') io.reporter.line('note: the end of the retained documents was taken from a quiet period: the probe could not go through (docs/fleet.md, "The end of the retained burst")');
  });
}

/** The `--json` document, as docs/cli-json.md describes it. */
export function statusDocument(view: FleetView, meta: { group: string | null; burstEnd: string; retainedMessages: number }): unknown {
  return { group: meta.group, burstEnd: meta.burstEnd, retainedMessages: meta.retainedMessages, counts: view.counts, devices: view.devices };
}

async function watch(io: CliIo, base: Parameters<typeof readFleetStatus>[0], json: boolean): Promise<void> {
  const stop = untilInterrupted();
  const screen = !json && process.stdout.isTTY ? liveScreen(process.stdout) : null;
  const last = new Map<string, string>();
  const emit = (d: DeviceRow) => {
    const line = json ? JSON.stringify(d) : deviceLine(d);
    if (last.get(d.device) === line) return;
    last.set(d.device, line);
    io.out(json ? line : `${new Date().toISOString()} ${line}`);
  };
  try {
    await watchFleetStatus({
      ...base,
      signal: stop.signal,
      onUpdate: (state, device) => {
        if (screen !== null) return screen.draw(() => fleetView(state, { group: base.group }));
        const records = device === null ? [...state.devices.values()] : [state.devices.get(device)].filter((r) => r !== undefined);
        records.filter((r) => base.group === undefined || r.status?.group === base.group).map(deviceRow).sort((x, y) => (x.device < y.device ? -1 : 1)).forEach(emit);
      },
    });
  } finally {
    screen?.close();
    stop.dispose();
  }
}
