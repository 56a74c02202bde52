import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type Started } from '../../../common/exec.js';
import { API_VERSION, parseDocument, type DeviceEvent } from '../../../contract/index.js';
import { ota } from '../../helpers/cli.js';
import { devicePublisher, presenceOf, statusOf, type DevicePublisher } from '../../helpers/fleet-devices.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';

const ROOT = join(import.meta.dirname, '../../..');
let broker: Mosquitto;
let pub: DevicePublisher;

function eventOf(device: string, type: DeviceEvent['type'], reason: string | null = null): DeviceEvent {
  return parseDocument('Event', { apiVersion: API_VERSION, kind: 'Event', device, updateId: '1.3', type, reason, time: '2026-03-01T12:01:00Z' });
}

/** `ota` as its own process (so Ctrl-C is a real SIGINT), its stdout read line by line. */
function otaProcess(...args: string[]): { child: Started; lines: string[]; line: (test: (l: string) => boolean) => Promise<string> } {
  const child = start('ota', [process.execPath, '--import', 'tsx', join(ROOT, 'test/helpers/ota-cli.ts'), ...args], { cwd: ROOT });
  const lines: string[] = [];
  const waiters: { test: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  let partial = '';
  child.onStdout((t) => {
    const parts = (partial + t).split('\n');
    partial = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      for (const w of waiters.filter((x) => x.test(l))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
  });
  const line = (test: (l: string) => boolean) =>
    new Promise<string>((resolve, reject) => {
      const found = lines.find(test);
      if (found !== undefined) return resolve(found);
      waiters.push({ test, resolve });
      void child.exited.then((r) => reject(new Error(`ota exited (${r.code}) before the line came:\n${r.stdout}\n${r.stderr}`)));
    });
  return { child, lines, line };
}

beforeAll(async () => {
  broker = await startMosquitto();
  pub = await devicePublisher(broker.url);
  await pub.retain(statusOf('gw-1', { booted: '1.2', phase: 'committed', updateId: '1.2' }));
  await pub.retain(presenceOf('gw-1', true));
  await pub.retain(statusOf('gw-2', { booted: '1.2' }));
});

afterAll(async () => {
  await pub?.close();
  await broker?.stop();
});

describe('ota fleet events (simulated device on a real mosquitto)', () => {
  it('without --follow: the last result from the retained status, and a note that the broker keeps no events', async () => {
    const r = await ota('fleet', 'events', 'gw-1', '--broker', broker.url, '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out.join('\n')) as { device: string; status: Record<string, unknown>; events: unknown[] };
    expect(doc.status).toMatchObject({ device: 'gw-1', presence: 'online', booted: '1.2', phase: 'committed', updateId: '1.2', health: 'ok' });
    expect(doc.events).toEqual([]);
    expect(r.err).toContain('the broker keeps no events');
    const none = await ota('fleet', 'events', 'gw-9', '--broker', broker.url);
    expect(none.out).toEqual(['gw-9: nothing retained (no status or presence): it never connected, or it uses another --prefix']);
  });

  it('--follow (own process): events and status changes as they arrive, a malformed and a hostile one too; Ctrl-C ends it with 0', async () => {
    const p = otaProcess('fleet', 'events', 'gw-1', '--follow', '--broker', broker.url);
    await p.line((l) => l.startsWith('gw-1 presence=online'));
    await pub.raw('gw-1', 'events', JSON.stringify(eventOf('gw-1', 'downloading')), { retain: false });
    await pub.raw('gw-1', 'events', '{"kind":"Event"}', { retain: false });
    await pub.raw('gw-1', 'events', JSON.stringify(eventOf('gw-2', 'failed')), { retain: false });
    await pub.raw('gw-1', 'events', JSON.stringify(eventOf('gw-1', 'failed', 'disk\u001b[2J full\u202e')), { retain: false });
    await pub.retain(statusOf('gw-1', { booted: '1.2', phase: 'failed', updateId: '1.3', lastError: { code: 'ERR_OTA_DISK', message: 'disk full', at: '2026-03-01T12:01:00Z' } }));
    await p.line((l) => l.includes('phase=failed'));
    p.child.kill('SIGINT');
    const end = await p.child.exited;
    expect(end.code).toBe(0);
    const events = p.lines.slice(1);
    expect(events[0]).toBe('2026-03-01T12:01:00Z downloading update 1.3');
    expect(events[1]).toMatch(/ event malformed \(/);
    expect(events[2]).toMatch(/ event malformed \(it names device gw-2, not the device of its topic\)$/);
    expect(events[3]).toBe('2026-03-01T12:01:00Z failed update 1.3: disk full');
    expect(events[4]).toMatch(/^gw-1 presence=online .*phase=failed .*health=failed error=ERR_OTA_DISK update=1\.3 last-error=ERR_OTA_DISK: disk full/);
  });
});

describe('ota fleet status --watch (own process, stdout not a terminal: one line per change)', () => {
  it('prints every device once, then a line for each device whose row changed; Ctrl-C ends it with 0', async () => {
    const p = otaProcess('fleet', 'status', '--watch', '--broker', broker.url);
    await p.line((l) => / gw-2 presence=unknown booted=1\.2 .*phase=idle/.test(l));
    await pub.retain(statusOf('gw-2', { booted: '1.2', phase: 'downloading', updateId: '1.3', progress: { doneBytes: 10, totalBytes: 40 } }));
    await p.line((l) => / gw-2 .*phase=downloading progress=25%/.test(l));
    await pub.retain(presenceOf('gw-2', true));
    await p.line((l) => / gw-2 presence=online /.test(l));
    p.child.kill('SIGINT');
    expect((await p.child.exited).code).toBe(0);
    const gw1 = p.lines.filter((l) => / gw-1 /.test(l));
    // gw-1 did not change after the first lines: printed once.
    expect(gw1).toHaveLength(1);
    expect(p.lines.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z gw-\d /.test(l))).toBe(true);
  });
});
