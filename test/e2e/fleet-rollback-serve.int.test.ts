import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey, rolloutBucket, signDocument, topics, type Rollout } from '../../contract/index.js';
import { jwsDigest } from '../../host-tools/fleet/rollout-release.js';
import { connectAsync } from 'mqtt';
import { fleet, removeDevices, type Fleet } from '../device-agent/agent/device.js';
import { adminStatus, rebootRequests } from '../device-agent/agent/run-agent.js';
import { makeMqttDevice, startRelay } from '../device-agent/daemon/harness.js';
import { observe } from '../device-agent/daemon/observer.js';
import { online } from '../device-agent/daemon/scenario.js';
import { REF } from '../device-agent/update/harness.js';
import { startOtaServe, type OtaServe } from '../helpers/ota-serve.js';
import { fleetRollbackCli, rebootWhenAsked, startAgent, stopAgents, type Agent } from './fleet-rollback-harness.js';

// The same confirmation through `ota serve`'s embedded broker (aedes: MQTT 3.1.1, retained
// messages streamed apart from the queue), which also serves the published releases: the fleet
// commands need nothing a broker lacks (docs/fleet.md, "ota fleet rollback"). And a rollout's gate on
// it, where the group's retained release may reach a new device before the rollout (docs/agent.md, "Rollouts").

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

describe('a rollout on ota serve', () => {
  it('a device outside the wave, whose retained release came before the rollout on reconnecting, does not update', async () => {
    const group = 'field';
    const t = topics();
    const releaseJws = (await readFile(join(f.publisher.pub, 'releases', REF, '1.1.jws'), 'utf8')).trim();
    const id = 'gw-new';
    const rolloutId = 'r-serve';
    // The wave ends at this device's bucket: it is the first one out.
    const rollout: Rollout = {
      apiVersion: 'deb-ota/v1',
      kind: 'Rollout',
      id: rolloutId,
      group,
      release: { version: '1.1', commit: f.releases['1.1']!.commit, sha256: jwsDigest(releaseJws) },
      wave: { index: 0, basisPoints: rolloutBucket(rolloutId, id) },
      state: 'running',
      reason: null,
    };
    const rolloutJws = await signDocument('rollout', rollout, await loadSigningKey(f.publisher.keyDir), { now: new Date() });
    const obs = await observe(srv.mqttUrl!, id);
    const d = await makeMqttDevice(f, { dir: join(tmp, id), broker: srv.mqttUrl!, running: '1.0', before: [], etc: { deviceId: id, group } });
    const relay = await startRelay(d);
    try {
      // A device that holds no rollout, at rest: its group has neither a release nor a rollout yet.
      await online(obs);
      await obs.waitFor('status', (s) => s.phase === 'idle', `${id} idle`);
      await relay.noWorker();
      // The operator's client takes the device's client id over (the broker drops the device), publishes the
      // release, retained, and leaves: the device comes back to a retained release and no rollout.
      const from = obs.seen.presence.length;
      const operator = await connectAsync(srv.mqttUrl!, { clientId: id, protocolVersion: 4 });
      await operator.publishAsync(t.groupRelease(group), releaseJws, { qos: 1, retain: true });
      await operator.endAsync();
      await online(obs, from);
      // The rollout reaches it after the release, as aedes may send a retained burst.
      const late = await connectAsync(srv.mqttUrl!, { protocolVersion: 4 });
      await late.publishAsync(t.groupRollout(group), rolloutJws, { qos: 1, retain: true });
      await late.endAsync();
      const waiting = await obs.waitFor('event', (e) => e.type === 'rollout-waiting' && e.updateId === '1.1', 'the release held back by the rollout');
      expect(waiting.reason).toMatch(new RegExp(`rollout ${rolloutId}: wave 0 holds buckets below \\d+, this device's is \\d+`));
      await relay.noWorker();
      expect(obs.seen.status.filter((s) => s.updateId === '1.1').map((s) => s.phase)).toEqual([]);
      expect(await rebootRequests(d)).toBe(0);
      expect((await adminStatus(d))[0]).toBe(f.releases['1.0']!.commit);
    } finally {
      await relay.stop();
      await obs.close();
    }
  });
});
