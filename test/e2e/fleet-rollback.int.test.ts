import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey, topics } from '../../contract/index.js';
import { signFleetCommand } from '../../host-tools/fleet/command-publish.js';
import { publishGroupRollback } from '../../host-tools/fleet/rollback.js';
import { fleet, removeDevices, type Fleet } from '../device-agent/agent/device.js';
import { adminStatus, record } from '../device-agent/agent/run-agent.js';
import { publishRaw } from '../device-agent/daemon/signing.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { fleetRollbackCli, lastBooted, rebootWhenAsked, startAgent, stopAgents, type Agent } from './fleet-rollback-harness.js';

// `ota fleet rollback` against several real agents (each its own sysroot, relay process and
// stand-in reboot) on a real Mosquitto: a device rollback and a group rollback confirmed by each
// device once it is back and healthy; onlyFrom leaving a device on another version where it is;
// a group command refused by a device of another group; the floor holding without --below-floor.

let tmp: string;
let f: Fleet;
let broker: Mosquitto;
const agents = new Map<string, Agent>();
const agent = (id: string) => agents.get(id)!;
const commit = (v: string) => f.releases[v]!.commit;
const statusCount = (ids: string[]) => new Map(ids.map((id) => [id, agent(id).obs.seen.status.length]));

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-fleet-rollback-'));
  f = await fleet(tmp, ['1.0', '1.1']);
  // A device that commits 1.2 may no longer go to 1.1 or below without a signed belowFloor.
  await f.publish('1.2', '--min-version', '1.1');
  broker = await startMosquitto();
  const specs = [
    { id: 'gw-a', group: 'lab', running: '1.1', before: ['1.0'] },
    { id: 'gw-b', group: 'lab', running: '1.1', before: ['1.0'] },
    { id: 'gw-c', group: 'lab', running: '1.0', before: [] },
    { id: 'gw-x', group: 'other', running: '1.1', before: ['1.0'] },
  ];
  for (const s of specs) agents.set(s.id, await startAgent(f, broker.url, tmp, s));
}, 300_000);

afterAll(async () => {
  await stopAgents(agents.values());
  await broker?.stop();
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

describe('ota fleet rollback over MQTT, confirmed by each device', () => {
  it('--device: back to its rollback deployment (1.0), confirmed once it booted it and committed', async () => {
    const from = statusCount(['gw-a']);
    const cli = await fleetRollbackCli(f, broker.url, '--device', 'gw-a');
    await rebootWhenAsked(agent('gw-a'), from.get('gw-a')!);
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\[1\/1\] gw-a: confirmed: back on 1\.0, (idle|committed)$/m);
    expect(r.stdout).toMatch(/rollback of device gw-a: 1 confirmed, 0 refused, 0 failed, 0 skipped, 0 pending/);
    expect((await adminStatus(agent('gw-a').d))[0]).toBe(commit('1.0'));
    expect((await record(agent('gw-a').d)).lastResult).toMatchObject({ result: 'committed', toCommit: commit('1.0') });
  });

  it('a group rollback with onlyFrom 1.1: gw-b goes back, gw-a and gw-c (on 1.0) refuse it as not-on-version and stay', async () => {
    const from = statusCount(['gw-b']);
    const events = agent('gw-a').obs.seen.event.length;
    const before = await adminStatus(agent('gw-c').d);
    const done = publishGroupRollback({ broker: { url: broker.url }, prefix: 'ota', key: f.publisher.keyDir, group: 'lab', onlyFrom: '1.1', timeoutSeconds: 240 });
    await rebootWhenAsked(agent('gw-b'), from.get('gw-b')!);
    const r = await done;
    expect(r.counts).toMatchObject({ devices: 3, confirmed: 1, skipped: 2, refused: 0, failed: 0, pending: 0 });
    expect(r.devices.find((t) => t.device === 'gw-b')).toMatchObject({ outcome: 'confirmed', booted: '1.0' });
    expect(r.topic).toBe('ota/groups/lab/commands');
    // The device itself said no: one publish reached it, and it checked its booted version.
    const refused = await agent('gw-a').obs.waitFor('event', (e) => e.type === 'command-refused' && e.updateId === r.nonce, 'gw-a refusing the group command', events);
    expect(refused.reason).toMatch(/^not-on-version: .*only for devices running 1\.1; this one runs 1\.0/);
    expect(await adminStatus(agent('gw-c').d)).toEqual(before);
    expect(lastBooted(agent('gw-x'))).toBe('1.1');
  });

  it('--group lab --to 1.2: one publish, a confirmation from each of its three devices; gw-x of another group untouched', async () => {
    const ids = ['gw-a', 'gw-b', 'gw-c'];
    const from = statusCount(ids);
    const xBefore = await adminStatus(agent('gw-x').d);
    const cli = await fleetRollbackCli(f, broker.url, '--group', 'lab', '--to', '1.2');
    // The stand-in boots one at a time; each device's confirmation does not wait for the others.
    for (const id of ids) await rebootWhenAsked(agent(id), from.get(id)!);
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(0);
    for (const id of ids) expect(r.stdout).toMatch(new RegExp(`^\\[\\d/3\\] ${id}: confirmed: back on 1\\.2, (idle|committed)$`, 'm'));
    expect(r.stdout).toMatch(/rollback of group lab to 1\.2: 3 confirmed, 0 refused, 0 failed, 0 skipped, 0 pending/);
    for (const id of ids) expect((await record(agent(id).d)).floor).toBe('1.1');
    expect(await adminStatus(agent('gw-x').d)).toEqual(xBefore);
  });

  it("a command for group lab sent on group other's topic: gw-x refuses it as not for it, and nothing changes", async () => {
    const x = agent('gw-x');
    const events = x.obs.seen.event.length;
    const before = await adminStatus(x.d);
    const cmd = await signFleetCommand({ key: await loadSigningKey(f.publisher.keyDir), target: { group: 'lab' }, action: { type: 'rollback' }, reason: 'misrouted' });
    await publishRaw(broker.url, [{ topic: topics().groupCommands('other'), payload: cmd.jws }]);
    const refused = await x.obs.waitFor('event', (e) => e.type === 'command-refused', 'gw-x refusing', events);
    expect(refused.reason).toBe('not-for-this-device: the command is for group lab, this device is in other');
    expect(await adminStatus(x.d)).toEqual(before);
    expect(x.obs.events('command-received').length).toBe(0);
  });

  it('below the floor: refused without --below-floor (exit 1, the reason), confirmed with it', async () => {
    const b = agent('gw-b');
    const before = await adminStatus(b.d);
    const refused = await (await fleetRollbackCli(f, broker.url, '--device', 'gw-b', '--to', '1.1', '--json')).done;
    expect(refused.code).toBe(1);
    const doc = JSON.parse(refused.stdout) as { error: { code: string; details: string[] } };
    expect(doc.error.code).toBe('ERR_OTA_NOT_CONFIRMED');
    expect(doc.error.details).toEqual([expect.stringMatching(/^gw-b: refused: below-floor: version 1\.1 is at or below the anti-rollback floor 1\.1/)]);
    expect(await adminStatus(b.d)).toEqual(before);
    const from = b.obs.seen.status.length;
    const cli = await fleetRollbackCli(f, broker.url, '--device', 'gw-b', '--to', '1.1', '--below-floor', '--json');
    await rebootWhenAsked(b, from);
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(0);
    const ok = JSON.parse(r.stdout) as { action: unknown; counts: { confirmed: number }; devices: { device: string; outcome: string; booted: string }[] };
    expect(ok.action).toEqual({ type: 'rollback', version: '1.1', belowFloor: true });
    expect(ok.devices).toEqual([expect.objectContaining({ device: 'gw-b', outcome: 'confirmed', booted: '1.1' })]);
    expect((await adminStatus(b.d))[0]).toBe(commit('1.1'));
  });
});
