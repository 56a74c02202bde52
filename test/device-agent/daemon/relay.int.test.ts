import { afterEach, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { jobs, jwsShaped, Observer, relayRoot, startRelay, until, DEVICE, type RelayProcess, type RelayRoot } from './relay-harness.js';

// The relay is the real process; only the worker is a stand-in (at the process boundary).
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
  cleanup = [];
});

async function setUp(): Promise<{ broker: Mosquitto; r: RelayRoot; observer: Observer; relay: RelayProcess }> {
  const broker = await startMosquitto();
  cleanup.push(() => broker.stop());
  const r = await relayRoot({ url: broker.url });
  cleanup.push(() => r.remove());
  const observer = await Observer.connect(broker.url);
  cleanup.push(() => observer.close());
  const relay = await startRelay(r);
  cleanup.push(async () => {
    relay.kill('SIGKILL');
    await relay.exited;
  });
  return { broker, r, observer, relay };
}

describe('the relay against a real mosquitto, with a stand-in worker', () => {
  it('connects over MQTT 5, says it is online, reports, and the last will says offline when it is SIGKILLed', async () => {
    const { observer, relay, r } = await setUp();
    await until('presence online', () => observer.presence().includes(true));
    await until('a report worker published status and inventory', () => observer.docs('status').length > 0 && observer.docs('inventory').length > 0);
    expect(relay.journal()).toContain('over MQTT 5');
    const ran = (await jobs(r)).map((j) => j.job);
    expect(ran[0]).toBe('tick');
    expect(ran).toContain('report');
    const online = observer.docs('online')[0]!;
    expect(online).toMatchObject({ apiVersion: 'deb-ota/v1', kind: 'Presence', device: DEVICE, online: true });
    relay.kill('SIGKILL');
    await until('presence offline by the last will', () => observer.presence().at(-1) === false);
    expect(observer.docs('online').at(-1)!.connectedAt).toBe(online.connectedAt);
  });

  it('on SIGTERM stops the running worker, says offline itself, and exits 0', async () => {
    const { observer, relay, r } = await setUp();
    await until('presence online', () => observer.presence().includes(true));
    await until('the report ran', async () => (await jobs(r)).some((j) => j.job === 'report'));
    const { writeFile } = await import('node:fs/promises');
    await writeFile(`${r.root}/stand-in/hold`, '');
    await observer.send(`ota/devices/${DEVICE}/commands`, jwsShaped('command'));
    await until('the command worker holds', async () => (await jobs(r)).some((j) => j.job === 'command'));
    relay.kill('SIGTERM');
    const { code } = await relay.exited;
    expect(code).toBe(0);
    expect((await jobs(r)).at(-1), relay.journal() + JSON.stringify(await jobs(r))).toEqual({ job: 'command', terminated: true });
    await until('presence offline', () => observer.presence().at(-1) === false);
  });
});
