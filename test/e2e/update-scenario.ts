/**
 * The update proof on a booted board (`scripts/e2e-update BOARD`, test/e2e/update-arm64.vm.test.ts):
 * A, with the agent's .deb, imaged from the published 1.0 and provisioned, boots under qemu-system
 * with the board's own bootloader; `ota serve` on the host is its update server and broker, which
 * it reaches only through guestfwd rules (update-device.ts). Then, each read from the device's
 * retained status and events on the host's broker:
 * 1. B (ota-e2e-app bumped) published with a delta and announced: downloaded, staged
 *    (ostree-finalize-staged at the agent's `systemctl reboot`), booted, healthy, committed;
 * 2. C, whose required health check fails: the agent rolls back to B by itself and says why;
 * 3. D, whose initramfs cannot start init: the bootloader counts bootlimit panics and falls back
 *    to B, where the agent reports the bootloader's rollback;
 * 4. a signed rollback command (`ota fleet rollback --to 1.0`) returns the device to A.
 * Each step's time and the bytes the device downloaded (at the wire, and as it reported) are kept.
 *
 * @example
 * const r = await runUpdateScenario(await E2e.create({ board: 'qemu-arm64', work, log: console.log }));
 * for (const c of checkUpdateScenario(r)) console.log(c.ok, c.what);
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'mqtt';
import { loadSigningKey, signDocument, topics, type DeviceEvent, type Status } from '../../contract/index.js';
import { observe, summary, type Observer } from '../device-agent/daemon/observer.js';
import { startOtaServe, type OtaServe } from '../helpers/ota-serve.js';
import { fmt, type BootRun, type E2e, type E2eDisk } from './boot-e2e.js';
import { GROUP, makeDeviceDisk, ota, prepareHost, publishedCommit, type HostSide } from './update-build.js';
import { httpBytesToGuest, PoweredDevice } from './update-device.js';

export interface UpdateStep {
  name: string;
  seconds: number;
  /** Bytes the guest received over HTTP during the step, counted at the wire (headers included). */
  wireBytes?: number;
  /** The download's size as the agent reported it (its status's progress). */
  reportedBytes?: number;
  /** Boots that ended during the step (reboots, panics). */
  boots?: number;
}

export interface UpdateResult {
  board: string;
  /** A's disk as ota image made it (its kernel arguments, OSTree's entries). */
  disk: E2eDisk;
  steps: UpdateStep[];
  commits: Record<'A' | 'B' | 'C' | 'D', string>;
  /** The retained status at the end of each step 1-4 and of the first boot. */
  statusAt: Record<string, Status>;
  /** Events of each update, by version (or the rollback's id). */
  events: DeviceEvent[];
  boots: BootRun[];
  /** How the rollback command was sent: the CLI, or signed here (no `ota fleet rollback` yet). */
  rollbackVia: 'ota fleet rollback' | 'signed command';
  invalid: Observer['invalid'];
  seconds: number;
}

/** Long enough for an update under TCG on two busy cores; only a failing run waits this long. */
const STEP_MS = 25 * 60_000;

const maxProgress = (obs: Observer, updateId: string) => Math.max(0, ...obs.seen.status.filter((s) => s.updateId === updateId && s.progress).map((s) => s.progress!.doneBytes));

export async function runUpdateScenario(e2e: E2e): Promise<UpdateResult> {
  const t0 = Date.now();
  const steps: UpdateStep[] = [];
  const step = async <T>(name: string, fn: () => Promise<T>, extra?: () => Promise<Partial<UpdateStep>>): Promise<T> => {
    const s0 = Date.now();
    const r = await e2e.step(name, fn);
    steps.push({ name, seconds: (Date.now() - s0) / 1000, ...(extra ? await extra() : {}) });
    return r;
  };
  const host = await prepareHost(e2e, step);
  await step('0g. ota publish 1.0 = A', () => host.publish('1.0', host.built.a.checksum));
  const disk = await step('0h. ota image of the published 1.0, provisioned (device id, group, broker, remote, release key)', () => makeDeviceDisk(e2e, host));
  const firmware = await e2e.firmware(host.ref);
  const serve = await startOtaServe(host.published);
  const mqttUrl = serve.mqttUrl!;
  const ports = { http: Number(new URL(serve.httpUrl).port), mqtt: Number(new URL(mqttUrl).port) };
  e2e.log(`    ota serve: ${serve.httpUrl}, ${mqttUrl}; the guest: 10.0.2.100:8080, :1883 (restrict=on)`);
  const obs = await observe(mqttUrl, host.deviceId, { giveUpMs: STEP_MS });
  const device = new PoweredDevice(e2e, disk, { firmware, ports, countsDir: e2e.options.work });
  try {
    return { ...(await runSteps({ e2e, host, serve, obs, device, steps, step, t0 })), disk };
  } catch (e) {
    e2e.log(`    what the broker had:\n${summary(obs.seen)}`);
    throw e;
  } finally {
    await device.stop();
    await obs.close();
    await serve.stop();
  }
}

interface Ctx {
  e2e: E2e;
  host: HostSide;
  serve: OtaServe;
  obs: Observer;
  device: PoweredDevice;
  steps: UpdateStep[];
  step: <T>(name: string, fn: () => Promise<T>, extra?: () => Promise<Partial<UpdateStep>>) => Promise<T>;
  t0: number;
}

async function runSteps(c: Ctx): Promise<Omit<UpdateResult, 'disk'>> {
  const { e2e, host, obs, device, step } = c;
  const statusAt: Record<string, Status> = {};
  const wait = (what: string, pred: (s: Status) => boolean, from = 0) => device.race(obs.waitFor('status', pred, what, from));
  const measured = (updateId: string, bootsBefore: number, bytesBefore: number) => async () => ({
    wireBytes: (await httpBytesToGuest(e2e.options.work)) - bytesBefore,
    reportedBytes: maxProgress(obs, updateId),
    boots: device.boots.length - bootsBefore,
  });
  const commits = { A: await publishedCommit(host, '1.0'), B: '', C: '', D: '' };

  device.start();
  statusAt.first = await step(`0i. boot A under ${e2e.board.qemu!.system} to the agent's first status (idle on 1.0)`, () => wait('idle on 1.0', (s) => s.phase === 'idle' && s.deployments.booted?.version === '1.0'));

  const update = async ({ n, version, built, what, done }: { n: number; version: string; built: string; what: string; done: (s: Status) => boolean }) => {
    await step(`${n}a. ota publish ${version} (${what}), deltas from the last three`, () => host.publish(version, built));
    const from = obs.seen.status.length;
    const [boots, bytes] = [device.boots.length, await httpBytesToGuest(e2e.options.work)];
    return step(`${n}b. ota announce ${version}, until ${what === 'B' ? 'committed on B' : 'rolled back to B'}`, async () => {
      await ota(e2e, ['announce', '--broker', c.serve.mqttUrl!, '--group', GROUP, '--release', join(host.published, 'releases', host.ref, `${version}.jws`), '--key', host.keys]);
      await wait(`${version} ended`, (s) => s.updateId === version && done(s), from);
      return wait(`idle on 1.1 after ${version}`, (s) => s.phase === 'idle' && s.deployments.booted?.version === '1.1', from);
    }, measured(version, boots, bytes));
  };
  statusAt.step1 = await update({ n: 1, version: '1.1', built: host.built.b.checksum, what: 'B', done: (s) => s.phase === 'committed' });
  commits.B = await publishedCommit(host, '1.1');
  statusAt.step2 = await update({ n: 2, version: '1.2', built: host.built.c.checksum, what: 'C', done: (s) => s.phase === 'rolled-back' });
  commits.C = await publishedCommit(host, '1.2');
  statusAt.step3 = await update({ n: 3, version: '1.3', built: host.built.d.checksum, what: 'D', done: (s) => s.phase === 'rolled-back' });
  commits.D = await publishedCommit(host, '1.3');

  const from = obs.seen.status.length;
  const [boots, bytes] = [device.boots.length, await httpBytesToGuest(e2e.options.work)];
  const viaCli = existsSync(join(import.meta.dirname, '../../host-tools/cli/commands/fleet-rollback.ts'));
  statusAt.step4 = await step(`4. a signed rollback command (${viaCli ? 'ota fleet rollback' : 'signed here'}), until committed on A`, async () => {
    const sent: Promise<unknown> = viaCli
      ? ota(e2e, ['fleet', 'rollback', '--device', host.deviceId, '--to', '1.0', '--broker', c.serve.mqttUrl!, '--key', host.keys, '--timeout', '25m', '--reason', 'e2e step 4'])
      : sendRollback(c.serve.mqttUrl!, host);
    const [, s] = await Promise.all([device.race(sent), wait('committed on 1.0', (x) => x.phase === 'idle' && x.deployments.booted?.version === '1.0' && obs.seen.status.slice(from).some((y) => y.phase === 'committed'), from)]);
    return s;
  }, async () => ({ wireBytes: (await httpBytesToGuest(e2e.options.work)) - bytes, boots: device.boots.length - boots }));
  return {
    board: e2e.board.name, steps: c.steps, commits, statusAt, events: [...obs.seen.event], boots: device.boots,
    rollbackVia: viaCli ? 'ota fleet rollback' : 'signed command', invalid: obs.invalid, seconds: (Date.now() - c.t0) / 1000,
  };
}

/** The rollback command as the fleet tools send it: signed with the release key, on the device's commands topic. */
async function sendRollback(mqttUrl: string, host: HostSide): Promise<void> {
  const key = await loadSigningKey(host.keys);
  const jws = await signDocument('command', { apiVersion: 'deb-ota/v1', kind: 'Command', target: { device: host.deviceId }, action: { type: 'rollback', version: '1.0' }, reason: 'e2e step 4' }, key);
  const client = await connect(mqttUrl, { protocolVersion: 4 });
  try {
    await client.publishAsync(topics().deviceCommands(host.deviceId), jws, { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

/** Every claim, as checks that pass or fail with what was seen. */
export function checkUpdateScenario(r: UpdateResult, bootlimit = 3): { what: string; ok: boolean; seen: string }[] {
  const out: { what: string; ok: boolean; seen: string }[] = [];
  const check = (what: string, ok: boolean, seen: string) => out.push({ what, ok, seen });
  const booted = (s: Status | undefined) => `${s?.deployments.booted?.version ?? '?'} ${s?.deployments.booted?.commit?.slice(0, 12) ?? ''}`;
  const ev = (id: string, type: DeviceEvent['type']) => r.events.filter((e) => e.updateId === id && e.type === type);
  check('first boot: the agent reports idle on 1.0, the published A', r.statusAt.first?.deployments.booted?.commit === r.commits.A, booted(r.statusAt.first));
  check('1: B downloaded, staged, rebooted into, committed', ['downloading', 'staged', 'rebooting', 'committed'].every((t) => ev('1.1', t as DeviceEvent['type']).length > 0), r.events.filter((e) => e.updateId === '1.1').map((e) => e.type).join(','));
  check('1: the device runs B (retained status)', r.statusAt.step1?.deployments.booted?.commit === r.commits.B, booted(r.statusAt.step1));
  const s1 = r.steps.find((s) => s.name.startsWith('1b.'));
  check('1: B came by its delta (the agent reported bytes, and the wire carried about that)', (s1?.reportedBytes ?? 0) > 0 && (s1?.wireBytes ?? 0) >= (s1?.reportedBytes ?? 0), `${s1?.reportedBytes} reported, ${s1?.wireBytes} at the wire`);
  const rb2 = ev('1.2', 'rolled-back')[0];
  check('2: C rolled back by the agent, saying why', rb2 !== undefined && /unhealthy/.test(rb2.reason ?? ''), rb2?.reason ?? 'no rolled-back event');
  check('2: the device is back on B', r.statusAt.step2?.deployments.booted?.commit === r.commits.B, booted(r.statusAt.step2));
  const rb3 = ev('1.3', 'rolled-back')[0];
  check("3: D: the agent on B reports the bootloader's rollback", rb3 !== undefined && /bootloader-fallback/.test(rb3.reason ?? ''), rb3?.reason ?? 'no rolled-back event');
  const s3 = r.steps.find((s) => s.name.startsWith('3b.'));
  check(`3: D panicked ${bootlimit} times before the fallback`, r.boots.filter((b) => b.panic !== undefined).length === bootlimit, `${r.boots.filter((b) => b.panic !== undefined).length} panics in ${s3?.boots} boots`);
  check('3: the device is back on B', r.statusAt.step3?.deployments.booted?.commit === r.commits.B, booted(r.statusAt.step3));
  check('4: the rollback command returned the device to A', r.statusAt.step4?.deployments.booted?.commit === r.commits.A, booted(r.statusAt.step4));
  check('every document the device sent followed the contract', r.invalid.length === 0, JSON.stringify(r.invalid.slice(0, 3)));
  return out;
}

/** The step lines scripts/e2e-update prints. */
export function stepLines(r: UpdateResult): string[] {
  const mb = (n?: number) => (n === undefined ? '' : `${(n / 1e6).toFixed(2)} MB`);
  return r.steps.map((s) => `  ${fmt(s.seconds).padStart(9)}  ${s.name}${s.wireBytes !== undefined ? `  [downloaded ${mb(s.wireBytes)} at the wire${s.reportedBytes ? `, ${mb(s.reportedBytes)} reported` : ''}${s.boots !== undefined ? `, ${s.boots} boots` : ''}]` : ''}`);
}
