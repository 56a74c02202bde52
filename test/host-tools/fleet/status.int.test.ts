import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ota } from '../../helpers/cli.js';
import { devicePublisher, presenceOf, statusOf } from '../../helpers/fleet-devices.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { startOtaServe } from '../../helpers/ota-serve.js';

let broker: Mosquitto;
const HOSTILE = 'disk \u001b]0;owned\u0007full\u001b[2J\u001b[31m \u202eevil\u009b1m';
const BAD_ID = 'évil\u202eid';

beforeAll(async () => {
  broker = await startMosquitto();
  const pub = await devicePublisher(broker.url);
  try {
    await pub.retain(statusOf('gw-1', { booted: '1.2' }));
    await pub.retain(presenceOf('gw-1', true));
    await pub.retain(statusOf('gw-2', { booted: '1.2', phase: 'downloading', updateId: '1.3', progress: { doneBytes: 512, totalBytes: 1024 } }));
    await pub.retain(presenceOf('gw-2', false));
    const lastError = { code: 'ERR_OTA_DISK', message: HOSTILE, at: '2026-03-01T12:00:00Z' };
    await pub.retain(statusOf('gw-3', { booted: '1.1', phase: 'failed', group: 'other', lastError }));
    await pub.raw('gw-bad', 'status', '{"apiVersion":"deb-ota/v1","kind":"Status"');
    await pub.raw('gw-big', 'status', JSON.stringify({ ...statusOf('gw-big'), padding: 'x'.repeat(70 * 1024) }));
    await pub.raw('gw-4', 'status', JSON.stringify(statusOf('gw-1', { booted: '9.9' })));
    await pub.raw(BAD_ID, 'status', JSON.stringify(statusOf('gw-1')));
    // Not a retained document: ignored, whatever it holds.
    await pub.raw('gw-1', 'telemetry', 'not json');
  } finally {
    await pub.close();
  }
});

afterAll(async () => {
  await broker?.stop();
});

interface Row {
  device: string;
  presence: string;
  booted: string | null;
  phase: string | null;
  health: string;
  progress: unknown;
  lastError: { message: string } | null;
  problems: Record<string, string>;
}

describe('ota fleet status (simulated devices: retained documents on a real mosquitto)', () => {
  it('--json: every device, a malformed, an oversized, a mismatched and a bad-id one shown as such, the burst ended by the probe', async () => {
    const r = await ota('fleet', 'status', '--broker', broker.url, '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out.join('\n')) as { burstEnd: string; counts: Record<string, unknown>; devices: Row[] };
    expect(doc.burstEnd).toBe('probe');
    const by = new Map(doc.devices.map((d) => [d.device, d]));
    expect([...by.keys()].sort()).toEqual(['gw-1', 'gw-2', 'gw-3', 'gw-4', 'gw-bad', 'gw-big', 'évilid'].sort());
    expect(by.get('gw-1')).toMatchObject({ presence: 'online', booted: '1.2', phase: 'idle', health: 'ok', problems: {} });
    expect(by.get('gw-2')).toMatchObject({ presence: 'offline', phase: 'downloading', health: 'updating', progress: { doneBytes: 512, totalBytes: 1024 } });
    expect(by.get('gw-3')).toMatchObject({ presence: 'unknown', health: 'failed', lastError: { message: 'disk full evil' } });
    expect(by.get('gw-bad')!.problems.status).toMatch(/^malformed \(not UTF-8 JSON/);
    expect(by.get('gw-big')!.problems.status).toMatch(/^malformed \(\d+ bytes, over the 65536-byte limit/);
    expect(by.get('gw-4')).toMatchObject({ booted: null, problems: { status: 'malformed (it names device gw-1, not the device of its topic)' } });
    expect(by.get('évilid')!.problems.topic).toMatch(/^malformed \(the topic's device id/);
    expect(doc.counts).toMatchObject({ devices: 7, presence: { online: 1, offline: 1, unknown: 5 }, byVersion: { '1.2': 2, '1.1': 1 }, malformed: 4 });
    // eslint-disable-next-line no-control-regex -- the point: no control may get through
    expect(r.out.join('\n')).not.toMatch(/[\u001b\u0007\u009b\u202e]/);
  });

  it('the table: counts on top, a row per device, and nothing a device sent reaches the terminal as a control', async () => {
    const r = await ota('fleet', 'status', '--broker', broker.url);
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    // eslint-disable-next-line no-control-regex -- the point: no control may get through
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(r.out[0]).toBe('7 devices: 1 online, 1 offline, 5 presence unknown; 4 with malformed documents');
    expect(r.out[1]).toBe('versions: (none) 4, 1.2 2, 1.1 1');
    const row = (id: string) => r.out.find((l) => l.startsWith(`${id} `)) ?? '';
    expect(row('gw-2')).toMatch(/offline\s+1\.2\s+-\s+downloading\s+50% of 1\.0 KiB\s+updating/);
    expect(row('gw-3')).toContain('ERR_OTA_DISK: disk full evil');
    expect(row('gw-bad')).toContain('status: malformed (not UTF-8 JSON');
  });

  it('--group: only the devices whose status names the group', async () => {
    const r = await ota('fleet', 'status', '--broker', broker.url, '--group', 'other', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out.join('\n')) as { group: string; devices: Row[] };
    expect(doc.group).toBe('other');
    expect(doc.devices.map((d) => d.device)).toEqual(['gw-3']);
    expect((await ota('fleet', 'status', '--broker', broker.url, '--group', 'a/b')).code).toBe(2);
  });
});

describe("ota fleet status on ota serve's embedded broker (aedes, MQTT 3.1.1; simulated devices)", () => {
  it('reads all the retained documents there too, though aedes lets the probe overtake them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-fleet-serve-'));
    await writeFile(join(dir, 'ota-published.json'), JSON.stringify({ format: 'deb-ota-published', formatVersion: 1 }));
    const srv = await startOtaServe(dir);
    try {
      const pub = await devicePublisher(srv.mqttUrl!);
      try {
        // Enough that aedes, which streams retained messages apart from its queue, lets the probe overtake them.
        const docs = Array.from({ length: 500 }, (_, i) => statusOf(`gw-${String(i).padStart(3, '0')}`, { booted: i % 2 === 0 ? '1.2' : '1.3' }));
        await Promise.all(docs.map((d) => pub.retain(d)));
        await pub.raw('gw-bad', 'online', 'not json');
      } finally {
        await pub.close();
      }
      const r = await ota('fleet', 'status', '--broker', srv.mqttUrl!, '--json');
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.out.join('\n')) as { burstEnd: string; counts: { devices: number; byVersion: Record<string, number>; malformed: number } };
      expect(doc.burstEnd).toBe('probe');
      expect(doc.counts).toMatchObject({ devices: 501, byVersion: { '1.2': 250, '1.3': 250, '(none)': 1 }, malformed: 1 });
    } finally {
      expect((await srv.stop()).code).toBe(0);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
