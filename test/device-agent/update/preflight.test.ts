import { describe, expect, it } from 'vitest';
import type { ReleaseManifest } from '../../../contract/index.js';
import { checkRelease, chooseSource, pruneSelection, type CurrentCommit } from '../../../device-agent/update/index.js';
import type { Deployment } from '../../../node-ostree/index.js';

// The decisions of preflight and prune as data: which refusal, which source, which deployments go.

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

function release(over: Partial<ReleaseManifest> = {}): ReleaseManifest {
  return {
    apiVersion: 'deb-ota/v1', kind: 'Release', ref: 'gw/arm64', version: '1.1', commit: B, subject: null, board: 'rpi4', arch: 'arm64',
    minVersion: null, group: null, publishedAt: '2026-01-01T00:00:00Z', deltas: [{ fromVersion: '1.0', fromCommit: A, bytes: 1000 }],
    fullPullBytes: 50_000, unpackedBytes: 200_000, packages: [], changes: { previousVersion: '1.0', added: [], removed: [], changed: [] }, ...over,
  };
}

const device = { board: 'rpi4', arch: 'arm64' };
const running = (commit: string, version: string | null): CurrentCommit => ({ commit, version, deployment: {} as Deployment });

describe('checkRelease', () => {
  it('accepts a newer release for this board and architecture', () => {
    expect(checkRelease(release(), device, running(A, '1.0'))).toBeNull();
    expect(checkRelease(release({ board: null }), device, running(A, '1.0'))).toBeNull();
  });

  it.each([
    ['board', release({ board: 'bbb' }), running(A, '1.0'), {}],
    ['arch', release({ arch: 'amd64' }), running(A, '1.0'), {}],
    ['floor', release({ minVersion: '1.1' }), running(A, '1.0'), {}],
    ['floor', release(), running(A, '1.0'), { floor: '1.2', allowDowngrade: true }],
    ['current', release({ commit: A }), running(A, '1.0'), {}],
    ['version', release({ version: '1.0~rc1' }), running(A, '1.0'), {}],
    ['version', release({ version: '1.0' }), running(A, '1.0'), {}],
  ] as const)('refuses for reason %s', (reason, r, cur, opts) => {
    expect(checkRelease(r, device, cur, opts)?.reason).toBe(reason);
  });

  it('lets a downgrade above the floor through when asked, and compares versions as dpkg does', () => {
    expect(checkRelease(release({ version: '0.9' }), device, running(A, '1.0'), { allowDowngrade: true, floor: '0.5' })).toBeNull();
    expect(checkRelease(release({ version: '1.10' }), device, running(A, '1.9'))).toBeNull();
  });
});

describe('chooseSource', () => {
  it('takes the delta from the running commit, else a pull of the whole commit', () => {
    expect(chooseSource(release(), running(A, '1.0'), 7)).toEqual({ source: { kind: 'delta', fromCommit: A, bytes: 1000 }, neededBytes: 1000 + 200_000 + 7 });
    expect(chooseSource(release(), running(C, '0.9'))).toEqual({ source: { kind: 'pull', bytes: 50_000 }, neededBytes: 250_000 });
    const heavy = release({ deltas: [{ fromVersion: '1.0', fromCommit: A, bytes: 50_000 }] });
    expect(chooseSource(heavy, running(A, '1.0')).source).toEqual({ kind: 'pull', bytes: 50_000 });
  });
});

describe('pruneSelection', () => {
  const d = (index: number, role: Deployment['role']): Deployment => ({ index, role, checksum: String(index) }) as Deployment;

  it('keeps the booted one, the pending one and one rollback; removes from the end first', () => {
    expect(pruneSelection([d(0, 'booted'), d(1, 'rollback'), d(2, 'other'), d(3, 'other')])).toEqual([3, 2]);
    expect(pruneSelection([d(0, 'pending'), d(1, 'booted'), d(2, 'rollback'), d(3, 'other')])).toEqual([3]);
  });

  it('in a sysroot that is not booted, the default stands for the running one', () => {
    expect(pruneSelection([d(0, 'other'), d(1, 'other'), d(2, 'other')])).toEqual([2]);
    expect(pruneSelection([d(0, 'other')])).toEqual([]);
  });
});
