import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentMachine } from '../../../device-agent/engine/machine.js';
import type { AgentRecord } from '../../../device-agent/engine/record.js';
import { StateStore } from '../../../device-agent/engine/store.js';
import { RESUME } from '../../../device-agent/engine/transitions.js';
import { B, recordingDevice, type RecordingDevice } from './recording-device.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-machine-stop-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const store = () => new StateStore({ dir: join(dir, 'state') });
const chain = (r: AgentRecord) => (r.lastResult?.log ?? []).map((e) => `${e.state}:${e.event}`);

/** Boots when a reboot is pending and restarts the agent, until it rests somewhere other than awaitingReboot. */
async function untilRest(dev: RecordingDevice, machine: AgentMachine, record: AgentRecord): Promise<AgentRecord> {
  let r = record;
  while (r.state === 'awaitingReboot') {
    await dev.boot();
    r = await machine.resume();
  }
  return r;
}

describe('shouldStop, unit test of the machine with a recording dependencies object', () => {
  it('stops before the first handler when asked from the start, and the next start runs the update', async () => {
    const dev = await recordingDevice(dir);
    const stopped = await new AgentMachine({ store: store(), deps: dev.deps, shouldStop: () => true }).check({ id: 'u1' });
    expect(stopped.state).toBe('checking');
    expect(dev.calls).toEqual([]);
    expect((await store().load()).state).toBe('checking');
    const machine = new AgentMachine({ store: store(), deps: dev.deps });
    const r = await untilRest(dev, machine, await machine.resume());
    expect(r.lastResult).toMatchObject({ result: 'committed', toCommit: B });
    expect(chain(r).slice(0, 2)).toEqual(['checking:begin', 'checking:resume']);
  });

  it('never stops in a state whose restart would roll back, and continues the update afterwards', async () => {
    const dev = await recordingDevice(dir);
    let stopping = false;
    const download = dev.deps.update.download;
    dev.deps.update.download = async (...args: Parameters<typeof download>) => {
      await download(...args);
      stopping = true;
    };
    const stopped = await new AgentMachine({ store: store(), deps: dev.deps, shouldStop: () => stopping }).check({ id: 'u1' });
    expect(['rerun', 'booted']).toContain(RESUME[stopped.state]);
    expect(dev.calls).not.toContain('reboot');
    stopping = false;
    const machine = new AgentMachine({ store: store(), deps: dev.deps });
    const r = await untilRest(dev, machine, await machine.resume());
    expect(r.lastResult).toMatchObject({ result: 'committed', reason: null, toCommit: B });
    expect(chain(r)).toContain(`${stopped.state}:resume`);
    expect(chain(r)).not.toContain('rollingBack:interrupted');
  });
});
