import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandAction, DeviceEvent, SigningKey } from '../../../contract/index.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { fleet, removeDevices, type Device, type Fleet } from '../agent/device.js';
import { adminStatus, bootedCommit, IDLE_BOOT_STATE, rebootRequests, record, until } from '../agent/run-agent.js';
import { makeMqttDevice, startRelay, type Relay } from './harness.js';
import { observe, type Observer } from './observer.js';
import { online, reboot, toReboot } from './scenario.js';
import { command, operatorKey, publishRaw, TOPICS } from './signing.js';

// Each command over MQTT, signed with the fleet's release key, through the real relay
// and its workers on one device (running 1.1, 1.0 behind it): acknowledged with command-received
// (its nonce as the update id), acted on, and ended with command-completed, or refused with the
// reason. Updates go to the stand-in reboot; the stand-in boot and a new relay commit them.

const DEVICE = 'gw-0001';
const LATEST = '1.3';
let tmp: string;
let f: Fleet;
let broker: Mosquitto;
let key: SigningKey;
let d: Device;
let obs: Observer;
let relay: Relay;
const commit = (v: string) => f.releases[v]!.commit;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-mqtt-commands-'));
  f = await fleet(tmp, ['1.0', '1.1', '1.2']);
  // The group's release: a device that commits it may no longer run anything at or below 1.1.
  await f.publish(LATEST, '--min-version', '1.1');
  broker = await startMosquitto();
  key = await operatorKey(f);
  d = await makeMqttDevice(f, { dir: join(tmp, 'device'), broker: broker.url, before: ['1.0'], running: '1.1' });
  obs = await observe(broker.url, DEVICE);
  relay = await startRelay(d);
  await online(obs);
}, 120_000);

afterAll(async () => {
  if (relay) await relay.stop();
  await obs?.close();
  await broker?.stop();
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

interface Sent {
  nonce: string;
  /** command-received for this nonce. */
  received: Promise<DeviceEvent>;
  /** command-completed, command-failed or command-refused, whichever comes for this nonce. */
  outcome: Promise<DeviceEvent>;
}

/** Sends a signed command for this device. */
async function post(action: CommandAction): Promise<Sent> {
  const jws = await command(key, { device: DEVICE }, action);
  const nonce = (JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
  const from = obs.seen.event.length;
  await publishRaw(broker.url, [{ topic: TOPICS.deviceCommands(DEVICE), payload: jws }]);
  const ends = ['command-completed', 'command-failed', 'command-refused'];
  const received = obs.waitFor('event', (e) => e.type === 'command-received' && e.updateId === nonce, `command-received for ${action.type}`, from);
  // A refused command is never received: only a test that waits for it cares.
  received.catch(() => {});
  return {
    nonce,
    received,
    outcome: obs.waitFor('event', (e) => e.updateId === nonce && ends.includes(e.type), `the outcome of ${action.type}`, from),
  };
}

/** Sends a signed command and resolves once it was acknowledged (a refusal fails at once, with its reason). */
async function send(action: CommandAction): Promise<Sent> {
  const sent = await post(action);
  const refused = sent.outcome.then((e) => {
    if (e.type === 'command-refused') throw new Error(`${action.type} was refused: ${e.reason ?? ''}`);
    return new Promise<never>(() => {});
  });
  await Promise.race([sent.received, refused]);
  return sent;
}

/** A command that updates: acknowledged, staged to the stand-in reboot, completed; then the boot commits it on `to`. */
async function updateThroughReboot(action: CommandAction, to: string): Promise<void> {
  const from = obs.seen.status.length;
  const sent = await send(action);
  const staged = await toReboot(d, obs, from);
  expect(staged.deployments.staged?.commit).toBe(commit(to));
  expect((await sent.outcome).type).toBe('command-completed');
  // The ticks after the command leave the update waiting for its reboot: one request.
  await relay.noWorker();
  expect(await rebootRequests(d)).toBe(1);
  const booted = await reboot(d, relay, obs);
  relay = booted.relay;
  expect(booted.booted).toBe(commit(to));
  await obs.waitFor('status', (s) => s.phase === 'idle' && s.deployments.booted?.commit === commit(to), `idle on ${to}`, from);
  const r = await record(d);
  expect(r.state).toBe('idle');
  expect(r.lastResult).toMatchObject({ result: 'committed', toCommit: commit(to) });
  expect(await bootedCommit(d)).toBe(commit(to));
  expect(await d.backend.getState()).toEqual(IDLE_BOOT_STATE);
}

describe('signed commands over MQTT, each acknowledged and its result reported', () => {
  it('report: the status and the inventory again', async () => {
    const [statuses, inventories] = [obs.seen.status.length, obs.seen.inventory.length];
    const sent = await send({ type: 'report' });
    expect(await sent.outcome).toMatchObject({ type: 'command-completed', device: DEVICE });
    await obs.waitFor('status', (s) => s.deployments.booted?.commit === commit('1.1'), 'a status after report', statuses);
    await obs.waitFor('inventory', (i) => i.commit === commit('1.1'), 'an inventory after report', inventories);
  });

  it('health-check: the checks run once, passed, and nothing else changes', async () => {
    const before = await record(d);
    const sent = await send({ type: 'health-check' });
    expect((await sent.outcome).type).toBe('command-completed');
    expect(obs.events('health-check-passed').length).toBeGreaterThan(0);
    expect(await record(d)).toEqual(before);
  });

  it('rollback: to the previous deployment (1.0), committed after the boot', async () => {
    await updateThroughReboot({ type: 'rollback' }, '1.0');
    expect(await adminStatus(d)).toEqual([commit('1.0'), commit('1.1')]);
  });

  it('rollback to a named version (1.2): fetched and committed after the boot', async () => {
    await updateThroughReboot({ type: 'rollback', version: '1.2' }, '1.2');
  });

  it("update: the group's release (1.3, floor 1.1) now, committed after the boot", async () => {
    await updateThroughReboot({ type: 'update' }, LATEST);
    expect((await record(d)).floor).toBe('1.1');
  });

  it('rollback below the floor: refused without belowFloor; with a signed belowFloor, done', async () => {
    const before = await adminStatus(d);
    const refused = await (await post({ type: 'rollback', version: '1.0' })).outcome;
    expect(refused.type).not.toBe('command-completed');
    expect(refused.reason).toMatch(/floor/);
    expect(await adminStatus(d)).toEqual(before);
    expect(await rebootRequests(d)).toBe(0);
    await updateThroughReboot({ type: 'rollback', version: '1.1', belowFloor: true }, '1.1');
  });

  it('reboot: the reboot command runs (the stand-in reboot records it)', async () => {
    const sent = await send({ type: 'reboot' });
    await until('the stand-in reboot was asked for', async () => (await rebootRequests(d)) === 1);
    expect((await sent.outcome).type).toBe('command-completed');
    expect(relay.journal()).not.toMatch(/^<[0-2]>/m);
    expect(obs.invalid).toEqual([]);
  });
});
