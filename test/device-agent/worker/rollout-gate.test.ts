import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rolloutBucket, type Rollout } from '../../../contract/index.js';
import { admitRollout, jwsSha256, releaseGate, RolloutStore } from '../../../device-agent/worker/rollout-gate.js';

const SHA = jwsSha256('release-jws');
const rollout = (o: Partial<Rollout> = {}): Rollout => ({
  apiVersion: 'deb-ota/v1',
  kind: 'Rollout',
  id: 'r-1',
  group: 'lab',
  release: { version: '1.2', commit: 'a'.repeat(64), sha256: SHA },
  wave: { index: 0, basisPoints: 10_000 },
  state: 'running',
  reason: null,
  ...o,
});
const devices = Array.from({ length: 200 }, (_, i) => `gw-${i}`);

describe('releaseGate', () => {
  it('lets every release through when the group has no rollout (as before rollouts)', () => {
    expect(releaseGate({ rollout: null, deviceId: 'gw-1', release: { version: '9', sha256: jwsSha256('other') } })).toEqual({ go: true });
  });

  it("starts only the rollout's release, only on devices whose bucket is in the wave", () => {
    const wave = rollout({ wave: { index: 1, basisPoints: 2500 } });
    for (const d of devices) {
      const go = releaseGate({ rollout: wave, deviceId: d, release: { version: '1.2', sha256: SHA } }).go;
      expect(go).toBe(rolloutBucket('r-1', d) < 2500);
    }
    const other = releaseGate({ rollout: rollout(), deviceId: 'gw-1', release: { version: '1.3', sha256: jwsSha256('another') } });
    expect(other).toMatchObject({ go: false, reason: expect.stringContaining('carries release 1.2') });
    const out = devices.find((d) => rolloutBucket('r-1', d) >= 2500)!;
    expect(releaseGate({ rollout: wave, deviceId: out, release: { version: '1.2', sha256: SHA } })).toMatchObject({ go: false, reason: expect.stringContaining(`this device's is ${rolloutBucket('r-1', out)}`) });
  });

  it('starts nothing while paused or aborted, whatever the wave', () => {
    for (const state of ['paused', 'aborted'] as const) {
      const g = releaseGate({ rollout: rollout({ state, reason: 'operator' }), deviceId: 'gw-1', release: { version: '1.2', sha256: SHA } });
      expect(g).toEqual({ go: false, reason: `rollout r-1 is ${state} (operator)` });
    }
  });
});

describe('admitRollout', () => {
  const at = (s: number) => new Date(s * 1000);
  const held = { doc: rollout(), jws: 'held', issuedAt: at(100) };

  it('accepts the first rollout of the group and any issued later', () => {
    expect(admitRollout({ incoming: { doc: rollout(), jws: 'a', issuedAt: at(50) }, held: null, group: 'lab' })).toEqual({ accept: true });
    expect(admitRollout({ incoming: { doc: rollout(), jws: 'b', issuedAt: at(101) }, held, group: 'lab' })).toEqual({ accept: true });
  });

  it('refuses an older or equally old one (a replayed wave), and takes the same one again as nothing', () => {
    expect(admitRollout({ incoming: { doc: rollout(), jws: 'old', issuedAt: at(99) }, held, group: 'lab' })).toMatchObject({ accept: false, same: false, reason: expect.stringMatching(/^replayed/) });
    expect(admitRollout({ incoming: { doc: rollout(), jws: 'other', issuedAt: at(100) }, held, group: 'lab' })).toMatchObject({ accept: false, same: false });
    expect(admitRollout({ incoming: { doc: rollout(), jws: 'held', issuedAt: at(100) }, held, group: 'lab' })).toMatchObject({ accept: false, same: true });
  });

  it("refuses another group's rollout", () => {
    expect(admitRollout({ incoming: { doc: rollout({ group: 'stable' }), jws: 'x', issuedAt: at(200) }, held: null, group: 'lab' })).toMatchObject({ accept: false, reason: expect.stringMatching(/^not-for-this-device/) });
  });
});

describe('RolloutStore', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('keeps one rollout per group across instances, and refuses a broken file rather than forget', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-rollouts-'));
    dirs.push(dir);
    const store = new RolloutStore(dir);
    expect(await store.load()).toEqual({});
    await store.save('lab', 'jws-1', new Date('2026-01-01T00:00:00Z'));
    await store.save('other', 'jws-2', new Date('2026-01-02T00:00:00Z'));
    await store.save('lab', 'jws-3', new Date('2026-01-03T00:00:00Z'));
    expect(await new RolloutStore(dir).load()).toEqual({ lab: { jws: 'jws-3', issuedAt: '2026-01-03T00:00:00.000Z' }, other: { jws: 'jws-2', issuedAt: '2026-01-02T00:00:00.000Z' } });
    expect(JSON.parse(await readFile(store.path, 'utf8')).kind).toBe('HeldRollouts');
    await writeFile(store.path, '{"broken"');
    await expect(store.load()).rejects.toMatchObject({ code: 'ERR_OTA_STATE' });
  });
});
