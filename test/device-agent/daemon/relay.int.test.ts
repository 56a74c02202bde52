import { afterEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
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
    await writeFile(`${r.root}/stand-in/hold`, '');
    await observer.send(`ota/devices/${DEVICE}/commands`, jwsShaped('command'));
    await until('the command worker holds', async () => (await jobs(r)).some((j) => j.job === 'command'));
    relay.kill('SIGTERM');
    const { code } = await relay.exited;
    expect(code).toBe(0);
    expect((await jobs(r)).at(-1), relay.journal() + JSON.stringify(await jobs(r))).toEqual({ job: 'command', terminated: true });
    await until('presence offline', () => observer.presence().at(-1) === false);
  });

  it('with no broker, ticks again when the last tick asked, and when state.json changes', async () => {
    const r = await relayRoot(null);
    cleanup.push(() => r.remove());
    await writeFile(join(r.root, 'stand-in/wake-ms'), '200');
    const relay = await startRelay(r);
    cleanup.push(async () => {
      relay.kill('SIGKILL');
      await relay.exited;
    });
    const ticks = async () => (await jobs(r)).filter((j) => j.job === 'tick').length;
    await until('three ticks, each asked for by the one before', async () => (await ticks()) >= 3);
    expect(relay.journal()).toContain('no broker (HTTP polling only)');
    expect((await jobs(r)).map((j) => j.job)).not.toContain('report');
    await writeFile(join(r.root, 'stand-in/wake-ms'), 'null');
    await until('the ticks stop asking', async () => {
      const n = await ticks();
      await new Promise((res) => setTimeout(res, 600));
      return (await ticks()) === n;
    });
    const before = await ticks();
    await writeFile(join(r.stateDir, 'state.json'), '{}');
    await until('a tick for the change of state.json', async () => (await ticks()) === before + 1);
  });

  it('polls over HTTP (tick --poll) while the broker stays away', async () => {
    const port = await freePort(); // nobody listens there
    const r = await relayRoot({ url: `mqtt://127.0.0.1:${port}`, brokerAwaySeconds: 0.2, awayPollSeconds: 0.3, reconnectMinSeconds: 0.1, reconnectMaxSeconds: 0.2 });
    cleanup.push(() => r.remove());
    const relay = await startRelay(r);
    cleanup.push(async () => {
      relay.kill('SIGKILL');
      await relay.exited;
    });
    await until('two away polls', async () => (await jobs(r)).filter((j) => j.job === 'tick' && j.args?.includes('--poll')).length >= 2);
    expect(relay.journal()).toMatch(/connection refused; trying again in/);
    const [first] = (await jobs(r)).filter((j) => j.job === 'tick');
    expect(first!.args).not.toContain('--poll');
  });
});
