import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleet, removeDevices, type Fleet } from '../device-agent/agent/device.js';
import { adminStatus } from '../device-agent/agent/run-agent.js';
import { startOtaServe, type OtaServe } from '../helpers/ota-serve.js';
import { fleetRollbackCli, rebootWhenAsked, startAgent, stopAgents, type Agent } from './fleet-rollback-harness.js';

// The same confirmation through `ota serve`'s embedded broker (aedes: MQTT 3.1.1, retained
// messages streamed apart from the queue), which also serves the published releases: the fleet
// commands need nothing a broker lacks (docs/fleet.md, "ota fleet rollback").

let tmp: string;
let f: Fleet;
let srv: OtaServe;
let agent: Agent | undefined;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-fleet-rollback-serve-'));
  f = await fleet(tmp, ['1.0', '1.1']);
  srv = await startOtaServe(f.publisher.pub);
  agent = await startAgent(f, srv.mqttUrl!, tmp, { id: 'gw-s', group: 'lab', running: '1.1', before: ['1.0'] });
}, 300_000);

afterAll(async () => {
  if (agent) await stopAgents([agent]);
  await srv?.stop('SIGTERM');
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

describe('ota fleet rollback on ota serve', () => {
  it('--device: confirmed once the device booted its rollback deployment and committed', async () => {
    const a = agent!;
    const from = a.obs.seen.status.length;
    const cli = await fleetRollbackCli(f, srv.mqttUrl!, '--device', 'gw-s');
    await rebootWhenAsked(a, from);
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\[1\/1\] gw-s: confirmed: back on 1\.0, (idle|committed)$/m);
    expect((await adminStatus(a.d))[0]).toBe(f.releases['1.0']!.commit);
  });
});
