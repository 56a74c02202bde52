import type { Command } from 'commander';
import { printJson } from '../../../common/cli-json.js';
import { OtaError } from '../../../common/errors.js';
import { cveReport, readTrackerFile, type CveReport } from '../../fleet/cve-report.js';
import { inventoryIndex, type InventoryIndex } from '../../fleet/inventory-index.js';
import { burstWarning, readFleetStatus } from '../../fleet/status.js';
import { renderTable } from '../../fleet/table.js';
import type { CliIo } from '../io.js';
import { addBrokerOptions, brokerOptions, parseId, type BrokerFlags } from './fleet-broker.js';

/**
 * `ota fleet inventory` and `ota fleet cve`: which devices run which package versions, and which
 * are exposed to the Debian security tracker's issues, from the retained inventories
 * (docs/fleet.md, "ota fleet inventory", "ota fleet cve").
 *
 * @example
 * // $ ota fleet inventory --broker mqtt://127.0.0.1:1883 --package openssl
 * // $ ota fleet cve debian-security.json --broker mqtt://127.0.0.1:1883 --release bookworm
 */
interface InventoryFlags extends BrokerFlags {
  package?: string;
  group?: string;
  json?: boolean;
}

interface CveFlags extends BrokerFlags {
  release?: string;
  group?: string;
  json?: boolean;
}

export function registerFleetInventory(fleet: Command, io: CliIo): void {
  const inv = fleet
    .command('inventory')
    .description('which devices run which version of each package, from their retained inventories')
    .option('--package <name>', 'only this package (a binary name, or a source name for all its binaries)')
    .option('--group <group>', 'only the devices of this group (as their status says)', parseId('group'))
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)');
  addBrokerOptions(inv).action(async (opts: InventoryFlags) => {
    const r = await readFleetStatus({ broker: brokerOptions(opts), prefix: opts.prefix, leaves: ['status', 'inventory'] });
    const idx = inventoryIndex(r.state, { package: opts.package, group: opts.group });
    warnBurst(io, r.retainedMessages);
    if (opts.json) printJson(io.out, { group: opts.group ?? null, package: opts.package ?? null, burstEnd: r.burstEnd, ...idx });
    else for (const l of inventoryLines(idx)) io.out(l);
  });
  const cve = fleet
    .command('cve')
    .description('which devices are exposed to which CVEs, from a Debian security tracker JSON export and their inventories')
    .argument('<file>', "the Debian security tracker's JSON export (tracker/data/json), saved to a file")
    .option('--release <codename>', "match against this Debian release (e.g. bookworm) instead of each device's own", parseCodename)
    .option('--group <group>', 'only the devices of this group (as their status says)', parseId('group'))
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)');
  addBrokerOptions(cve).action(async (file: string, opts: CveFlags) => {
    const tracker = await readTrackerFile(file);
    const r = await readFleetStatus({ broker: brokerOptions(opts), prefix: opts.prefix, leaves: ['status', 'inventory'] });
    const report = cveReport(r.state, tracker, { release: opts.release, group: opts.group });
    warnBurst(io, r.retainedMessages);
    if (opts.json) printJson(io.out, { group: opts.group ?? null, burstEnd: r.burstEnd, ...report });
    else for (const l of cveLines(report)) io.out(l);
  });
}

function warnBurst(io: CliIo, retainedMessages: number): void {
  const warning = burstWarning(retainedMessages);
  if (warning !== null) io.reporter.line(warning);
}

function parseCodename(v: string): string {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(v)) throw new OtaError('ERR_OTA_USAGE', `--release takes a Debian release codename such as bookworm, not ${JSON.stringify(v)}`);
  return v;
}

function deviceList(ids: string[]): string {
  return `${ids.length}: ${ids.join(', ')}`;
}

export function inventoryLines(idx: InventoryIndex): string[] {
  const missing = idx.withoutInventory.length > 0 ? `; without one: ${idx.withoutInventory.join(', ')}` : '';
  const head = `${idx.devices} device${idx.devices === 1 ? '' : 's'} with an inventory${missing}`;
  const rows = idx.packages.flatMap((p) => p.versions.map((v) => [p.name, p.source, v.version, v.arch, deviceList(v.devices)]));
  if (rows.length === 0) return [head, 'no package matched'];
  return [head, '', ...renderTable(['PACKAGE', 'SOURCE', 'VERSION', 'ARCH', { title: 'DEVICES', maxChars: 120 }], rows)];
}

export function cveLines(r: CveReport): string[] {
  const release = r.release === null ? "each device's own release" : `release ${r.release}`;
  const issues = new Set(r.byCve.map((c) => c.cve)).size;
  const lines = [`${r.checked} device${r.checked === 1 ? '' : 's'} checked against ${release}: ${r.exposed.length} exposed to ${issues} issue${issues === 1 ? '' : 's'}`];
  if (r.unknownRelease.length > 0) lines.push(`not checked, no release in their inventory (give --release): ${r.unknownRelease.join(', ')}`);
  if (r.withoutInventory.length > 0) lines.push(`not checked, no inventory: ${r.withoutInventory.join(', ')}`);
  if (r.byCve.length === 0) return lines;
  const rows = r.byCve.map((c) => [c.cve, c.source, c.status === 'fixed-later' ? `fixed in ${c.fixedVersion}` : c.status, c.urgency ?? '-', deviceList(c.devices)]);
  return [...lines, '', ...renderTable(['ISSUE', 'SOURCE', 'STATUS', 'URGENCY', { title: 'DEVICES', maxChars: 120 }], rows)];
}
