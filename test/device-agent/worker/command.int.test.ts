import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, type SigningKey } from '../../../contract/index.js';
import { hashTree, REF } from '../update/harness.js';
import { fleet, makeDevice, removeDevices, type Device, type Fleet } from '../agent/device.js';
import { adminStatus, bootedCommit, record, rebootRequests } from '../agent/run-agent.js';
import { standInBoot } from '../agent/stand-in-boot.js';
import { events, releaseKey, signCommand, signRaw, worker, type WorkerRun } from './run-worker.js';

// `ota-agent worker command` as the real process on a harness device, fed signed commands on stdin as
// the relay feeds them (docs/agent.md, "The worker protocol"). The reboot and the boot are the
// harness's stand-ins (process boundary). One device goes through the actions in turn.

let tmp: string;
let f: Fleet;
let key: SigningKey;
let d: Device;
const commit = (v: string) => f.releases[v]!.commit;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-worker-command-'));
  f = await fleet(tmp, ['1.0', '1.1']);
  // The group's release: a device that commits it may no longer run anything at or below 1.1.
  await f.publish('1.2', '--min-version', '1.1');
  key = await releaseKey(f);
  d = await makeDevice(f, { dir: join(tmp, 'device'), before: ['1.0'], running: '1.1' });
}, 120_000);

afterAll(async () => {
  await f?.close();
  if (tmp) await removeDevices(tmp);
});

const types = (r: WorkerRun) => events(r).map((e) => e.type);
const state = async () => [await hashTree(d.dir), await adminStatus(d)];

/** A command run to its end (exit 0, the done line last). */
async function command(jws: string | Buffer): Promise<WorkerRun> {
  const r = await worker(d, 'command', jws);
  expect(r.code, r.stderr).toBe(0);
  expect(r.lines.at(-1)).toEqual({ type: 'done', nextWakeMs: null, polled: false });
  return r;
}

/** Boots what the update deployed (the stand-in boot) and lets a tick commit it. */
async function bootAndCommit(to: string): Promise<void> {
  await standInBoot(d);
  const t = await worker(d, 'tick', '', '--after-start');
  expect(types(t)).toEqual(['verifying', 'committed']);
  expect(await bootedCommit(d)).toBe(commit(to));
}

describe('worker command', () => {
  it('report, health-check and reboot: received, done, completed; a replay in a later worker (a restart) is refused', async () => {
    const report = await signCommand(key, { type: 'report' });
    const r = await command(report);
    expect(r.lines.map((l) => l.type)).toEqual(['event', 'status', 'inventory', 'event', 'done']);
    expect(types(r)).toEqual(['command-received', 'command-completed']);
    const nonce = events(r)[0]!.updateId!;
    expect(events(r).every((e) => e.updateId === nonce && !e.untrusted)).toBe(true);
    expect(JSON.parse(await readFile(join(d.stateDir, 'nonces.json'), 'utf8'))).toMatchObject({ kind: 'SeenNonces', seen: { [nonce]: expect.any(Number) as unknown } });

    const before = await state();
    const replay = await command(report);
    expect(events(replay)).toEqual([{ type: 'command-refused', updateId: nonce, untrusted: true, reason: expect.stringMatching(/^replayed: /) as unknown }]);
    expect(await state()).toEqual(before);

    const health = await command(await signCommand(key, { type: 'health-check' }));
    expect(types(health)).toEqual(['command-received', 'health-check-passed', 'command-completed']);
    expect(await rebootRequests(d)).toBe(0);
    const reboot = await command(await signCommand(key, { type: 'reboot' }, { target: { group: 'lab' } }));
    expect(types(reboot)).toEqual(['command-received', 'command-completed']);
    expect(await rebootRequests(d)).toBe(1);
  }, 60_000);

  it('commands that do not verify, or are for another device or group, are refused untrusted and change nothing', async () => {
    const past = new Date(Date.now() - 7200_000);
    const cases: [string | Buffer, string][] = [
      [await signCommand(await generateSigningKey(), { type: 'reboot' }, { nonce: 'n-kid' }), 'kid'],
      [await signCommand(key, { type: 'reboot' }, { now: past, expiresInSeconds: 60, nonce: 'n-expired' }), 'expired'],
      [(await readFile(join(f.publisher.pub, 'releases', REF, '1.1.jws'), 'utf8')).trim(), 'typ'],
      [Buffer.from([0xc3, 0x28]), 'malformed'],
      [await signRaw(key, 'command', { apiVersion: 'deb-ota/v1', kind: 'Command', target: { device: 'gw-0001' }, action: { type: 'format-disk' }, reason: null }), 'schema'],
      [await signCommand(key, { type: 'reboot' }, { target: { device: 'gw-9999' } }), 'not-for-this-device'],
      [await signCommand(key, { type: 'reboot' }, { target: { group: 'other' } }), 'not-for-this-device'],
    ];
    const before = await state();
    const requests = await rebootRequests(d);
    for (const [input, reason] of cases) {
      const r = await command(input);
      expect(events(r), reason).toEqual([expect.objectContaining({ type: 'command-refused', untrusted: true, reason: expect.stringMatching(new RegExp(`^${reason}: `)) as unknown })]);
    }
    expect(await state()).toEqual(before);
    expect(await rebootRequests(d)).toBe(requests);
    // Refused before it was trusted, a command's refusal still names the nonce it claims (read unverified), so the
    // operator's tool matches it to its command; one that cannot be read names none.
    expect(events(await command(cases[0]![0]))[0]!.updateId).toBe('n-kid');
    expect(events(await command(cases[1]![0]))[0]!.updateId).toBe('n-expired');
    expect(events(await command(cases[3]![0]))[0]!.updateId).toBeNull();
  }, 60_000);

  it("update: only the group's release when a version is named; applied and committed, raising the floor", async () => {
    const wrong = await command(await signCommand(key, { type: 'update', version: '9.9' }));
    expect(types(wrong)).toEqual(['command-received', 'command-failed']);
    expect(events(wrong)[1]!.reason).toBe("the group's release is 1.2, not 9.9");
    expect((await record(d)).lastResult).toBeNull();

    const update = await command(await signCommand(key, { type: 'update', version: '1.2' }));
    const nonce = events(update)[0]!.updateId!;
    expect(types(update)).toEqual(['command-received', 'downloading', 'staging', 'rebooting', 'staged', 'command-completed']);
    expect((await record(d)).update).toMatchObject({ id: nonce, intent: 'upgrade', version: '1.2' });
    await bootAndCommit('1.2');
    expect((await record(d)).floor).toBe('1.1');
  }, 60_000);

  it('rollback to a version below the floor: refused without belowFloor, deployed with it; rollback to the previous', async () => {
    const before = await record(d);
    const refused = await command(await signCommand(key, { type: 'rollback', version: '1.0' }));
    expect(events(refused)).toEqual([expect.objectContaining({ type: 'command-refused', untrusted: true, reason: expect.stringMatching(/^below-floor: version 1.0 is at or below the anti-rollback floor 1.1/) as unknown })]);
    expect(await record(d)).toEqual(before);

    const down = await command(await signCommand(key, { type: 'rollback', version: '1.0', belowFloor: true }));
    expect(types(down)).toEqual(['command-received', 'downloading', 'staging', 'rebooting', 'staged', 'command-completed']);
    expect((await record(d)).update).toMatchObject({ intent: 'deploy', version: '1.0', belowFloor: true });
    await bootAndCommit('1.0');

    const back = await command(await signCommand(key, { type: 'rollback' }));
    // A rollback passes through downloading too (it downloads nothing: its deployment is on disk).
    expect(types(back)).toEqual(['command-received', 'downloading', 'staging', 'rebooting', 'staged', 'command-completed']);
    expect((await record(d)).update).toMatchObject({ intent: 'rollback', toCommit: commit('1.2') });
    await bootAndCommit('1.2');
  }, 90_000);
});
