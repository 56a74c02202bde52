import { describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { planPublish, STEPS, type PlanInputs } from '../../../host-tools/publish/plan.js';
import { checkVersion } from '../../../host-tools/publish/versions.js';

// The publish plan and the version rules, as data: no repository, no disk.

const C = (n: number) => String(n).repeat(64).slice(0, 64);
const base: PlanInputs = {
  request: { ref: 'gw/arm64', version: '1.3' },
  built: { checksum: C(9), subject: 's', timestamp: 1, board: null, arch: 'arm64' },
  published: [
    { version: '1.2', commit: C(3), minVersion: '1.0' },
    { version: '1.1', commit: C(2), minVersion: null },
    { version: '1.0', commit: C(1), minVersion: null },
    { version: '0.9', commit: C(4), minVersion: null },
  ],
  fresh: false,
  publishedKids: ['k1'],
  kid: 'k1',
};
const plan = (over: Partial<PlanInputs['request']> = {}, rest: Partial<PlanInputs> = {}) => planPublish({ ...base, ...rest, request: { ...base.request, ...over } });

function refusal(fn: () => unknown): OtaError {
  try {
    fn();
  } catch (e) {
    if (e instanceof OtaError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('checkVersion', () => {
  it('orders with dpkg rules and names the rule a version breaks', () => {
    expect(checkVersion({ version: '1.10', published: ['1.9'], floor: null, force: false })).toEqual([]);
    expect(refusal(() => checkVersion({ version: '1.0~rc1', published: ['1.0'], floor: null, force: false })).message).toMatch(/below the latest published version 1\.0/);
    expect(refusal(() => checkVersion({ version: '1.0', published: [], floor: '1.0', force: false })).message).toMatch(/at or below the anti-rollback floor 1\.0/);
    expect(refusal(() => checkVersion({ version: '1.0', published: ['1.0'], floor: null, force: true })).message).toMatch(/already published/);
    expect(refusal(() => checkVersion({ version: '1:0', published: ['1:0'], floor: null, force: true })).message).toMatch(/already published/);
    expect(refusal(() => checkVersion({ version: 'a b', published: [], floor: null, force: false })).message).toMatch(/not a valid dpkg version/);
    expect(refusal(() => checkVersion({ version: '1', published: [], floor: 'x y', force: false })).message).toMatch(/--min-version x y is not a valid dpkg version/);
  });

  it('lets --force through below the latest and a lowered floor, with warnings, never a version at its own floor', () => {
    const w = checkVersion({ version: '0.5', published: ['1.0'], floor: '0.4', previousFloor: { floor: '0.9', version: '1.0' }, force: true });
    expect(w).toHaveLength(2);
    expect(w.join('\n')).toMatch(/--min-version 0\.4 lowers the anti-rollback floor 0\.9 .*--force.*\n.*below the latest published version 1\.0/);
    // Devices refuse a release at or below its own floor, so --force cannot make one.
    const atFloor = refusal(() => checkVersion({ version: '0.5', published: ['1.0'], floor: '0.5', force: true }));
    expect(atFloor.message).toMatch(/at or below the anti-rollback floor 0\.5: every device would refuse it/);
    expect(atFloor.hint).toMatch(/--min-version below 0\.5 --force/);
    // the highest published version, also when a forced rollback release is the newest
    expect(checkVersion({ version: '1.5', published: ['1.1', '2.0'], floor: null, force: true })).toEqual(['version 1.5 is below the latest published version 2.0 (published anyway: --force)']);
  });
});

describe('planPublish', () => {
  it('chains to the latest release, deltas from the last 3, every step in order', () => {
    const p = plan();
    expect(p.parent?.version).toBe('1.2');
    expect(p.deltaFrom.map((d) => d.version)).toEqual(['1.2', '1.1', '1.0']);
    expect(p.steps).toEqual(STEPS.filter((s) => s !== 'init' && s !== 'group'));
    expect(p.steps.indexOf('manifest')).toBeLessThan(p.steps.indexOf('ref'));
    expect(p.steps.indexOf('ref')).toBeLessThan(p.steps.indexOf('summary'));
    expect(p.floor).toBe('1.0');
  });

  it('takes --deltas, --delta-from, --group, a fresh directory and a new floor', () => {
    expect(plan({ deltas: 0 }).deltaFrom).toEqual([]);
    expect(plan({ deltaFrom: ['0.9', '0.9', '1.1'] }).deltaFrom.map((d) => d.commit)).toEqual([C(4), C(2)]);
    const g = plan({ group: 'lab', minVersion: '1.1' }, { fresh: true, published: [] });
    expect(g.steps[0]).toBe('init');
    expect(g.steps.at(-2)).toBe('group');
    expect(g.floor).toBe('1.1');
    expect(g.parent).toBeNull();
  });

  it('refuses to lower the anti-rollback floor without --force', () => {
    expect(refusal(() => plan({ minVersion: '0.9' })).message).toMatch(/--min-version 0\.9 lowers the anti-rollback floor 1\.0/);
    expect(plan({ minVersion: '0.9', force: true }).warnings).toEqual(['--min-version 0.9 lowers the anti-rollback floor 1.0 of release 1.2 (published anyway: --force)']);
    expect(plan({ minVersion: '1.0' }).floor).toBe('1.0');
    expect(plan({ minVersion: '1.1' }).floor).toBe('1.1');
  });

  it('refuses bad names, a foreign key, a commit without ota.arch and unknown delta sources', () => {
    expect(refusal(() => plan({ ref: 'a/../b' })).message).toMatch(/invalid ref name/);
    expect(refusal(() => plan({ group: 'a/b' })).message).toMatch(/invalid group name/);
    expect(refusal(() => plan({}, { kid: 'k2' })).message).toMatch(/release key k2 is not one of .*\(k1\)/);
    expect(plan({}, { kid: 'k2', fresh: true, published: [] }).steps[0]).toBe('init');
    expect(refusal(() => plan({}, { built: { ...base.built, arch: null } })).message).toMatch(/no ota\.arch/);
    expect(refusal(() => plan({ deltaFrom: ['2.0'] })).message).toMatch(/--delta-from 2\.0: no such published version/);
    expect(refusal(() => plan({ version: '1.0.5' })).message).toMatch(/below the latest published version 1\.2/);
  });
});
