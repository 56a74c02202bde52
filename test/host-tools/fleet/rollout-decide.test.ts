import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inWave, rolloutBucket, type Status } from '../../../contract/index.js';
import { controlTransition } from '../../../host-tools/fleet/rollout-control.js';
import { applyActions, countWave, decide, nextIssuedAt, outcome, rolloutDocument, type DeviceObservation } from '../../../host-tools/fleet/rollout-decide.js';
import { defaultStatePath, loadRolloutState, parseDuration, parseMinDevices, parseRate, parseWaves, saveRolloutState, type RolloutControl } from '../../../host-tools/fleet/rollout-state.js';
import { statusOf } from '../../helpers/fleet-devices.js';
import { rolloutControl } from '../../helpers/rollout-control.js';

const T0 = new Date('2026-03-01T12:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const V = '1.1';

function control(o: Partial<RolloutControl> = {}): RolloutControl {
  return rolloutControl({ id: 'r-unit', release: { file: '/p/1.1.jws', version: V, commit: 'c'.repeat(64), sha256: 'd'.repeat(64) }, waves: [1000, 5000, 10_000], maxFailureBasisPoints: 2000, ...o });
}

const ids = Array.from({ length: 60 }, (_, i) => `gw-${String(i).padStart(2, '0')}`);
const bucket = (d: string) => rolloutBucket('r-unit', d);
/** The devices each wave of control() holds, computed with the contract's bucket. */
const inW = (bp: number) => ids.filter((d) => inWave(bucket(d), bp));

const idle = (d: string, version = '1.0'): DeviceObservation => ({ id: d, online: true, status: statusOf(d, { booted: version }) });
const failed = (d: string, secondsAfterStart = 5): DeviceObservation => ({
  id: d,
  online: true,
  status: statusOf(d, { lastError: { code: 'update-rolled-back', message: `update ${V} (${V}): health check failed`, at: at(secondsAfterStart).toISOString() } }),
});
const updating = (d: string, phase: Status['phase'] = 'downloading'): DeviceObservation => ({ id: d, online: true, status: statusOf(d, { phase, updateId: V }) });

/** The fleet where `done` succeeded, `bad` failed, the others still on 1.0. */
const fleet = (done: string[], bad: string[] = []) => ids.map((d) => (done.includes(d) ? idle(d, V) : bad.includes(d) ? failed(d) : idle(d)));

describe('outcome: success is committed after health checks, never downloaded or rebooting', () => {
  it.each([
    ['booted on the release, idle', idle('a', V), 'succeeded'],
    ['booted on the release, committed', { id: 'a', online: true, status: statusOf('a', { booted: V, phase: 'committed', updateId: V }) }, 'succeeded'],
    ['downloaded', updating('a', 'downloaded'), 'updating'],
    ['rebooting', updating('a', 'rebooting'), 'updating'],
    ['verifying on the release (health checks running)', { id: 'a', online: true, status: statusOf('a', { booted: V, phase: 'verifying', updateId: V }) }, 'updating'],
    ['failed, in its phase', updating('a', 'failed'), 'failed'],
    ['rolled back, in its phase', updating('a', 'rolled-back'), 'failed'],
    ['rolled back (a bootloader rollback), as its last error', failed('a'), 'failed'],
    ['refused by its preflight in the rollout, as the agent records it', { id: 'a', online: true, status: statusOf('a', { lastError: { code: 'update-refused', message: `update ${V}: update refused (board): release for board x`, at: at(5).toISOString() } }) }, 'failed'],
    ['a failure of the same version before the rollout began', failed('a', -60), 'pending'],
    ['a failure of another version', { id: 'a', online: true, status: statusOf('a', { lastError: { code: 'update-failed', message: 'update 1.10 (1.10): x', at: at(5).toISOString() } }) }, 'pending'],
    ['still on the old version', idle('a'), 'pending'],
    ['offline on the old version', { ...idle('a'), online: false }, 'offline'],
    ['no status', { id: 'a', online: null, status: null }, 'pending'],
    ['on a newer version, idle', idle('a', '1.2'), 'skipped'],
    ['on a newer version, its preflight refused the older release (in its phase)', { id: 'a', online: true, status: statusOf('a', { booted: '1.2', phase: 'failed', updateId: V, lastError: { code: 'update-refused', message: `update ${V} (${V}): below the floor`, at: at(5).toISOString() } }) }, 'skipped'],
    ['on a newer version, the refusal as its last error', { id: 'a', online: true, status: statusOf('a', { booted: '1.2', lastError: { code: 'update-refused', message: `update ${V} (${V}): below the floor`, at: at(5).toISOString() } }) }, 'skipped'],
    ['on a newer version, offline', { ...idle('a', '1.2'), online: false }, 'skipped'],
    ['on an older version that sorts after it as a string (1.10 after 1.9 is newer)', idle('a', '1.10'), 'skipped'],
  ] as [string, DeviceObservation, string][])('%s: %s', (_name, d, want) => {
    expect(outcome(d, V, T0)).toBe(want);
  });
});

describe('decide', () => {
  const w0 = inW(1000);
  const w1 = inW(5000);

  it('the waves hold the devices the bucket function puts in them (the test fleet has some in each)', () => {
    expect(w0.length).toBeGreaterThan(0);
    expect(w1.length).toBeGreaterThan(w0.length);
    expect(countWave(control(), fleet([])).expected).toBe(w0.length);
  });

  it('waits while a device of the wave is pending or updating; devices outside the wave do not count', () => {
    expect(decide(control(), fleet(w0.slice(1)), at(10))).toEqual([]);
    const withUpdating = fleet(w0.slice(1)).map((d) => (d.id === w0[0] ? updating(d.id, 'rebooting') : d));
    expect(decide(control(), withUpdating, at(10))).toEqual([]);
    const outside = ids.find((d) => !w0.includes(d))!;
    expect(decide(control(), fleet([...w0, outside]), at(10))).toEqual([{ type: 'soak' }, { type: 'start-wave', index: 1 }]);
  });

  it('goes wave by wave to completion without a soak', () => {
    let s = control();
    s = applyActions(s, decide(s, fleet(w0), at(10)), at(10)).state;
    expect(s.wave.index).toBe(1);
    expect(decide(s, fleet(w0), at(11))).toEqual([]);
    s = applyActions(s, decide(s, fleet(w1), at(12)), at(12)).state;
    expect(s.wave.index).toBe(2);
    const last = applyActions(s, decide(s, fleet(ids), at(13)), at(13));
    expect(last.state.phase).toBe('completed');
    expect(last.publish).toBe(false);
    expect(decide(last.state, fleet(ids), at(14))).toEqual([]);
  });

  it('soaks a finished wave for the soak time before the next starts', () => {
    const s0 = control({ soakSeconds: 600 });
    const soaking = applyActions(s0, decide(s0, fleet(w0), at(10)), at(10));
    expect(soaking).toMatchObject({ publish: false, state: { wave: { index: 0, soakStartedAt: at(10).toISOString() } } });
    expect(decide(soaking.state, fleet(w0), at(609))).toEqual([]);
    expect(decide(soaking.state, fleet(w0), at(610))).toEqual([{ type: 'start-wave', index: 1 }]);
  });

  it('halts as soon as failures pass the rate with at least min-devices results, naming the failed devices', () => {
    const s = control({ waves: [5000, 10_000], maxFailureBasisPoints: 1000, minDevices: 3 });
    const [a, b, c, d] = w1;
    // One failure of two results: over 10%, but fewer than 3 results: wait.
    expect(decide(s, fleet([a!], [b!]), at(10))).toEqual([]);
    const halt = decide(s, fleet([a!, c!], [b!]), at(10));
    expect(halt).toEqual([{ type: 'halt', reason: `wave 1 (50%): 1 of 3 results failed, over the 10% allowed`, failed: [b] }]);
    const after = applyActions(s, halt, at(10));
    expect(after.publish).toBe(true);
    expect(after.state).toMatchObject({ phase: 'halted', failedDevices: [b] });
    expect(rolloutDocument(after.state)).toMatchObject({ state: 'paused', reason: expect.stringMatching(/^halted: wave 1/) });
    expect(decide(after.state, fleet([a!, c!, d!], [b!]), at(11))).toEqual([]);
  });

  it('does not halt at or under the rate, and halts a wave that ended over it whatever min-devices says', () => {
    const s = control({ waves: [5000, 10_000], maxFailureBasisPoints: 2000, minDevices: 1000 });
    const five = w1.slice(0, 5);
    expect(w1.length).toBeGreaterThanOrEqual(5);
    // 1 of 5 = 20%: at the rate, not over it; the wave has more devices pending.
    expect(decide(s, fleet(five.slice(1), [five[0]!]), at(10))).toEqual([]);
    // 2 failed of the whole wave's results, over 5%, though fewer results than min-devices: the wave ended.
    const ended = decide({ ...s, maxFailureBasisPoints: 500 }, fleet(w1.slice(2), w1.slice(0, 2)), at(10));
    expect(ended).toMatchObject([{ type: 'halt', reason: expect.stringContaining('wave 1 (50%) ended: 2 of') }]);
  });

  it('devices already on a newer version neither count as failed nor hold the wave: the rollout never halts on them', () => {
    const s = control({ maxFailureBasisPoints: 0 });
    const [ahead, ...rest] = w0;
    const refused: DeviceObservation = { id: ahead!, online: true, status: statusOf(ahead!, { booted: '1.2', phase: 'failed', updateId: V, lastError: { code: 'update-refused', message: `update ${V} (${V}): below the floor`, at: at(5).toISOString() } }) };
    const devices = fleet(rest).map((d) => (d.id === ahead ? refused : d));
    expect(countWave(s, devices).byOutcome).toMatchObject({ skipped: [ahead], failed: [] });
    expect(decide(s, devices, at(10))).toEqual([{ type: 'soak' }, { type: 'start-wave', index: 1 }]);
    // The same device on the release's version itself is a success.
    expect(countWave(s, fleet(w0)).byOutcome.succeeded).toEqual([...w0].sort());
  });

  it('lets offline devices not hold a wave, and counts them again when they return', () => {
    const off = w0[0]!;
    const devices = fleet(w0.slice(1)).map((d) => (d.id === off ? { ...d, online: false } : d));
    expect(countWave(control(), devices).byOutcome.offline).toEqual([off]);
    expect(decide(control(), devices, at(10))).toEqual([{ type: 'soak' }, { type: 'start-wave', index: 1 }]);
  });

  it('does nothing while paused, halted or aborted', () => {
    for (const phase of ['paused', 'halted', 'aborted', 'completed'] as const) expect(decide(control({ phase }), fleet(ids), at(10))).toEqual([]);
  });

  it('after a restart, continues from the saved wave and soak (the same state gives the same decision)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-rollout-state-'));
    dirs.push(dir);
    const path = join(dir, 'lab.json');
    const s = applyActions(control({ soakSeconds: 60 }), [{ type: 'start-wave', index: 1 }, { type: 'soak' }], at(100)).state;
    await saveRolloutState(path, s);
    const back = (await loadRolloutState(path))!;
    expect(back).toEqual(s);
    expect(decide(back, fleet(w1), at(130))).toEqual([]);
    expect(decide(back, fleet(w1), at(160))).toEqual([{ type: 'start-wave', index: 2 }]);
    await writeFile(path, '{"kind":"Something"}');
    await expect(loadRolloutState(path)).rejects.toMatchObject({ code: 'ERR_OTA_STATE' });
    expect(await loadRolloutState(join(dir, 'none.json'))).toBeNull();
  });
});

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('pause, resume, abort', () => {
  it('move between the states that allow them, and refuse the rest', () => {
    const paused = controlTransition(control(), 'pause', 'looking');
    expect(rolloutDocument(paused)).toMatchObject({ state: 'paused', reason: 'looking' });
    expect(() => controlTransition(paused, 'pause', null)).toThrow(/cannot pause/);
    expect(controlTransition(paused, 'resume', null).phase).toBe('running');
    expect(rolloutDocument(controlTransition(paused, 'abort', null)).state).toBe('aborted');
    expect(() => controlTransition(control({ phase: 'completed' }), 'abort', null)).toThrow(/cannot abort/);
    expect(() => controlTransition(control(), 'resume', null)).toThrow(/cannot resume/);
  });

  it('a resume after a halt excuses the failed devices, so the wave can go on', () => {
    const w = inW(1000);
    const halted = control({ phase: 'halted', failedDevices: [w[0]!] });
    const resumed = controlTransition(halted, 'resume', null);
    expect(resumed.excused).toEqual([w[0]]);
    expect(decide(resumed, fleet(w.slice(1), [w[0]!]), at(10))).toEqual([{ type: 'soak' }, { type: 'start-wave', index: 1 }]);
  });

  it('each new document is issued after the last, even within the same second', () => {
    expect(nextIssuedAt({ lastIssuedAt: 0 }, at(0))).toBe(T0.getTime() / 1000);
    expect(nextIssuedAt({ lastIssuedAt: T0.getTime() / 1000 }, at(0.5))).toBe(T0.getTime() / 1000 + 1);
  });
});

describe('options', () => {
  it('parses waves, soak, rate and min devices, refusing what does not fit', () => {
    expect(parseWaves('1%,10%,50%,100%')).toEqual([100, 1000, 5000, 10_000]);
    expect(parseWaves('0.5%, 100%')).toEqual([50, 10_000]);
    for (const bad of ['10%,5%,100%', '1%,10%', '0%,100%', '1,100', '101%']) expect(() => parseWaves(bad)).toThrow(/--waves/);
    expect([parseDuration('0'), parseDuration('30s'), parseDuration('10m'), parseDuration('2h')]).toEqual([0, 30, 600, 7200]);
    expect(() => parseDuration('ten')).toThrow(/--soak/);
    expect(parseRate('5%')).toBe(500);
    expect(() => parseRate('120%')).toThrow(/--max-failure-rate/);
    expect(parseMinDevices('3')).toBe(3);
    expect(() => parseMinDevices('0')).toThrow(/--min-devices/);
    expect(defaultStatePath('lab', { XDG_STATE_HOME: '/s' })).toBe('/s/deb-ota/rollouts/lab.json');
  });
});
