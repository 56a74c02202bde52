/**
 * `npm run bench:dashboard` (docs/dashboard.md, "Measured"): 10,000 simulated devices (status and
 * presence retained on a real Mosquitto, documents built with the contract's schemas), the
 * dashboard in this process, Debian's chromium through playwright-core. Measured in the browser:
 *
 * - the fleet page complete: from the navigation's start (performance.now() = 0) to the frame
 *   in which the counts say 10,000 devices and the first page of rows is drawn; target < 1 s;
 * - a device's status change shown: from just before the status is published to the frame in
 *   which its row shows the new phase (both clocks are this machine's); target < 1 s.
 *
 * Peer, in the same run over the same broker: `ota fleet status --json`'s read of the fleet
 * (readFleetStatus, what the command does between its start and its output), the way an operator
 * gets the same facts without the dashboard.
 */
import { readFleetStatus } from '../host-tools/fleet/status.js';
import { startDashboard } from '../host-tools/dashboard/dashboard.js';
import { connectBroker } from '../host-tools/mqtt/client.js';
import { topics } from '../contract/index.js';
import { launchChromium } from '../test/helpers/browser.js';
import { presenceOf, statusOf } from '../test/helpers/fleet-devices.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 10_000);
const ROUNDS = 5;
const TARGET_MS = { page: 1000, change: 1000 };
const id = (n: number) => `gw-${String(n).padStart(5, '0')}`;

async function publishFleet(url: string): Promise<number> {
  const t0 = performance.now();
  const s = await connectBroker({ url });
  const t = topics();
  for (let start = 1; start <= DEVICES; start += 500) {
    const batch: Promise<void>[] = [];
    for (let n = start; n < Math.min(start + 500, DEVICES + 1); n++) {
      batch.push(s.publish(t.deviceStatus(id(n)), JSON.stringify(statusOf(id(n), { booted: n % 3 === 0 ? '1.1' : '1.0' })), { qos: 1, retain: true }));
      batch.push(s.publish(t.deviceOnline(id(n)), JSON.stringify(presenceOf(id(n), n % 50 !== 0)), { qos: 1, retain: true }));
    }
    await Promise.all(batch);
  }
  await s.close();
  return performance.now() - t0;
}

/** The little of the DOM the predicates use (this project's TypeScript has no DOM library). */
interface Doc {
  querySelector: (s: string) => { textContent: string | null } | null;
  querySelectorAll: (s: string) => { length: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  // Mosquitto's default max_queued_messages (1000) would cut the retained burst short (docs/fleet.md, "Large fleets on Mosquitto").
  const broker = await startMosquitto({ extraConfig: ['max_queued_messages 0'] });
  const chrome = await launchChromium();
  try {
    const publishMs = await publishFleet(broker.url);
    console.log(`  published ${DEVICES} devices (status and presence, retained) in ${(publishMs / 1000).toFixed(1)} s`);
    const peer: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const r = await readFleetStatus({ broker: { url: broker.url }, prefix: 'ota' });
      peer.push(performance.now() - t0);
      if (r.view.devices.length !== DEVICES) throw new Error(`ota fleet status read ${r.view.devices.length} devices, not ${DEVICES}`);
    }
    const t0 = performance.now();
    const d = await startDashboard({ broker: { url: broker.url }, prefix: 'ota', port: 0 });
    try {
      const { page } = await chrome.page();
      await page.goto(d.loginUrl!);
      await page.waitForSelector('main[data-state="ready"]');
      console.log(`  dashboard up with the fleet read in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const loads: number[] = [];
      for (let i = 0; i < 3; i++) {
        await page.goto(`${d.url}/?round=${i}#/fleet`);
        // A function, not a string: the page's CSP forbids eval, which a string predicate needs.
        const complete = (n: number) => {
          const doc = (globalThis as unknown as { document: Doc }).document;
          return doc.querySelector('#counts-h')?.textContent === `${n} devices` && doc.querySelectorAll('#devices tbody tr').length === Math.min(100, n) ? performance.now() : false;
        };
        const h = await page.waitForFunction(complete, DEVICES, { polling: 'raf', timeout: 60_000 });
        loads.push((await h.jsonValue()) as number);
      }
      const changes: number[] = [];
      const s = await connectBroker({ url: broker.url });
      for (let i = 1; i <= ROUNDS; i++) {
        const device = id(i);
        const before = Date.now();
        await s.publish(topics().deviceStatus(device), JSON.stringify(statusOf(device, { phase: 'downloading', updateId: `r${i}` })), { qos: 1, retain: true });
        const shown = (dev: string) => ((globalThis as unknown as { document: Doc }).document.querySelector(`tr[data-device="${dev}"] td.phase`)?.textContent === 'downloading' ? Date.now() : false);
        const h = await page.waitForFunction(shown, device, { polling: 'raf', timeout: 30_000 });
        changes.push(((await h.jsonValue()) as number) - before);
      }
      await s.close();
      report({ loads, changes, peer });
    } finally {
      await d.close();
    }
  } finally {
    await chrome.close();
    await broker.stop();
  }
}

function report(f: { loads: number[]; changes: number[]; peer: number[] }): void {
  const ms = (x: number) => `${Math.round(x)} ms`;
  console.log(`  fleet page complete (${DEVICES} devices, 3 loads): ${f.loads.map(ms).join(', ')}; median ${ms(median(f.loads))}, target < ${ms(TARGET_MS.page)}`);
  console.log(`  status change shown (${ROUNDS} changes): ${f.changes.map(ms).join(', ')}; max ${ms(Math.max(...f.changes))}, target < ${ms(TARGET_MS.change)}`);
  console.log(`  peer: ota fleet status --json reads the same ${DEVICES} devices in ${f.peer.map(ms).join(', ')} (median ${ms(median(f.peer))}; page/peer ${(median(f.loads) / median(f.peer)).toFixed(2)}x)`);
  const ok = Math.max(...f.loads) < TARGET_MS.page && Math.max(...f.changes) < TARGET_MS.change;
  console.log(`bench dashboard: fleet page complete = ${ms(median(f.loads))} (max ${ms(Math.max(...f.loads))}), status change shown in at most ${ms(Math.max(...f.changes))}, target both < 1000 ms ${ok ? 'ok' : 'short'}`);
}

await main();
