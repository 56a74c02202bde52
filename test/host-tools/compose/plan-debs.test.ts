import { describe, expect, it } from 'vitest';
import { debControlRef, debDataRef, planDebs, type LockedDeb } from '../../../host-tools/compose/plan-debs.js';

const deb = (name: string, sha: string): LockedDeb => ({ name, version: '1', architecture: 'arm64', filename: `pool/main/${name[0]}/${name}/${name}_1_arm64.deb`, size: 10, sha256: sha.repeat(64), originUri: 'http://mirror.example/debian/' });

describe('planDebs', () => {
  it('reuses imported debs, imports cached ones and downloads the rest, keyed by SHA256', () => {
    const plan = planDebs([deb('c', 'c'), deb('a', 'a'), deb('b', 'b')], { imported: (s) => s === 'a'.repeat(64), cached: (s) => s === 'b'.repeat(64) });
    expect(plan.reuse.map((d) => d.name)).toEqual(['a']);
    expect(plan.importFromCache.map((d) => d.name)).toEqual(['b']);
    expect(plan.download.map((d) => d.name)).toEqual(['c']);
  });

  it('lists the origin first, then the fallbacks, without doubled slashes or repeats', () => {
    const plan = planDebs([deb('a', 'a')], { imported: () => false, cached: () => false }, ['http://snapshot.example/archive/debian/20250520T000000Z', 'http://mirror.example/debian']);
    expect(plan.download[0]!.urls).toEqual([
      'http://mirror.example/debian/pool/main/a/a/a_1_arm64.deb',
      'http://snapshot.example/archive/debian/20250520T000000Z/pool/main/a/a/a_1_arm64.deb',
    ]);
  });

  it('handles a deb only once when two packages share its bytes', () => {
    const plan = planDebs([deb('a', 'a'), { ...deb('a2', 'a') }], { imported: () => false, cached: () => false });
    expect(plan.download).toHaveLength(1);
  });

  it('keeps package names out of refs (OSTree refs allow no +)', () => {
    expect(debDataRef('f'.repeat(64))).toBe(`ota/deb/${'f'.repeat(64)}/data`);
    expect(debControlRef('f'.repeat(64))).toMatch(/^[a-z0-9/]+$/);
  });
});
