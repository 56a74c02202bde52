import { describe, expect, it } from 'vitest';
import { parseDocument } from '../../../contract/index.js';
import { beginUpdate, initialRecord, type AgentRecord } from '../../../device-agent/engine/record.js';
import { contractDeployments, statusDocument, statusLines, withBooted, type DeploymentInfo } from '../../../device-agent/cli/status.js';

// The contract's three deployments from OSTree's list. A booted system cannot be made in a temp
// dir (libostree finds the booted deployment only when the sysroot is `/`), so its role lists are
// written here as data, the way Sysroot.deployments() returns them on a device.

const C = (n: number) => String(n).repeat(64);
const d = (index: number, role: DeploymentInfo['role'], version: string | null, staged = false): DeploymentInfo => ({
  index,
  osname: 'debian',
  checksum: C(index + 1),
  serial: 0,
  version,
  role,
  staged,
  pinned: false,
});

describe('contractDeployments', () => {
  it('uses OSTree roles on a booted system: a staged update before the booted one, a rollback after', () => {
    expect(contractDeployments([d(0, 'pending', '1.2', true), d(1, 'booted', '1.1'), d(2, 'rollback', '1.0')])).toEqual({
      booted: { version: '1.1', commit: C(2) },
      staged: { version: '1.2', commit: C(1) },
      rollback: { version: '1.0', commit: C(3) },
    });
  });

  it('has no staged deployment when the booted one is the default, and keeps a commit without a version', () => {
    expect(contractDeployments([d(0, 'booted', '1.1'), d(1, 'rollback', null)])).toEqual({
      booted: { version: '1.1', commit: C(1) },
      staged: null,
      rollback: { version: null, commit: C(2) },
    });
  });

  it('after a rollback to an older deployment, the newer one it left is neither staged nor rollback', () => {
    // OSTree lists the booted 1.0 first again; 1.1 behind it is "rollback" in OSTree's words.
    expect(contractDeployments([d(0, 'booted', '1.0'), d(1, 'rollback', '1.1')]).rollback).toEqual({ version: '1.1', commit: C(2) });
  });

  it('in a folder sysroot (nothing booted): the default is what boots next, entry 1 what the bootloader falls back to', () => {
    expect(contractDeployments([d(1, 'other', '1.0'), d(0, 'pending', '1.1')])).toEqual({
      booted: null,
      staged: { version: '1.1', commit: C(1) },
      rollback: { version: '1.0', commit: C(2) },
    });
    expect(contractDeployments([])).toEqual({ booted: null, staged: null, rollback: null });
  });

  it('makes a document the contract accepts', () => {
    const s = statusDocument({ deviceId: 'gw-1', agentVersion: '0.1.0', now: new Date('2026-01-01T00:00:00Z'), deployments: [d(0, 'booted', '1.1')], record: { record: initialRecord() } });
    expect(parseDocument('Status', JSON.stringify(s))).toEqual(s);
  });
});

describe('statusLines: the update and what it was asked to do', () => {
  const AT = new Date('2026-03-01T10:00:00.000Z');
  const lines = (record: AgentRecord) =>
    statusLines({
      status: statusDocument({ deviceId: 'gw-1', agentVersion: '0.1.0', now: AT, deployments: [], record: { record } }),
      deployments: [],
      bootloader: { kind: 'uboot', where: '/boot/ota.env', error: 'not read here' },
      record: { record },
      progress: null,
    }).filter((l) => l.startsWith('update:') || l.startsWith('anti-rollback'));
  const begun = (options: Omit<Parameters<typeof beginUpdate>[1], 'at'>) => beginUpdate(initialRecord(), { ...options, at: AT });

  it('names the intent of each verb, with its bundle, its floor override and download-only', () => {
    const since = `since ${AT.toISOString()}`;
    expect(lines(begun({ id: 'poll-1', downloadOnly: true }))).toEqual([`update: poll-1, upgrade to the group's release, download only, state checking, attempt 1, ${since}`]);
    expect(lines(begun({ id: 'deploy-1.0', intent: 'deploy' }))).toEqual([`update: deploy-1.0, deploy a named version, state checking, attempt 1, ${since}`]);
    expect(lines(begun({ id: 'rollback-9', intent: 'rollback', belowFloor: true }))).toEqual([`update: rollback-9, roll back to the previous deployment, below the floor allowed, state checking, attempt 1, ${since}`]);
    expect(lines(begun({ id: 'install-1.2', intent: 'install', bundlePath: '/media/usb/gw-1.2.otab' }))).toEqual([`update: install-1.2, install the bundle /media/usb/gw-1.2.otab, state checking, attempt 1, ${since}`]);
  });

  it("shows the device's anti-rollback floor once it has one", () => {
    expect(lines({ ...initialRecord(), floor: '1.1' })).toEqual(['update: none (idle)', 'anti-rollback floor: 1.1 (the highest minVersion of a release this device committed)']);
    expect(lines(initialRecord())).toEqual(['update: none (idle)']);
  });

  it('shows the last update\'s warnings and the skipped releases', () => {
    const all = (record: AgentRecord) =>
      statusLines({ status: statusDocument({ deviceId: 'gw-1', agentVersion: '0.1.0', now: AT, deployments: [], record: { record } }), deployments: [], bootloader: { kind: 'uboot', where: '/boot/ota.env', error: 'x' }, record: { record }, progress: null });
    const log = [{ at: AT.toISOString(), state: 'committing' as const, event: 'healthy' as const, detail: 'warning: wanted checks failed: 50-sensors failed: exit 3' }];
    const lastResult = { id: 'u1', version: '1.1', fromCommit: null, toCommit: null, result: 'committed' as const, reason: null, at: AT.toISOString(), log };
    const skippedReleases = [{ commit: 'b'.repeat(64), version: '1.2', reason: 'unhealthy', at: AT.toISOString() }];
    const text = all({ ...initialRecord(), lastResult, skippedReleases });
    expect(text).toContain('  warning: wanted checks failed: 50-sensors failed: exit 3');
    expect(text.slice(-2)).toEqual([expect.stringMatching(/^skipped releases/), `  1.2 ${'b'.repeat(64)}: unhealthy at ${AT.toISOString()}`]);
  });
});

describe('withBooted: a folder sysroot whose kernel command line names the running deployment', () => {
  const folder = () => [d(0, 'pending', '1.2'), d(1, 'other', '1.1'), d(2, 'other', '1.0')];
  const id = (n: number) => ({ osname: 'debian', checksum: C(n + 1), serial: 0 });

  it("gives OSTree's roles around the named one: the default before it pending, the next after it rollback", () => {
    expect(withBooted(folder(), id(1)).map((x) => x.role)).toEqual(['pending', 'booted', 'rollback']);
    expect(contractDeployments(withBooted(folder(), id(1)))).toEqual({
      booted: { version: '1.1', commit: C(2) },
      staged: { version: '1.2', commit: C(1) },
      rollback: { version: '1.0', commit: C(3) },
    });
    expect(withBooted(folder(), id(0)).map((x) => x.role)).toEqual(['booted', 'rollback', 'other']);
  });

  it("changes nothing when libostree found a booted one, when nothing is named, or when the name matches no deployment", () => {
    const booted = [d(0, 'booted', '1.2'), d(1, 'rollback', '1.1')];
    expect(withBooted(booted, id(1))).toEqual(booted);
    expect(withBooted(folder(), null)).toEqual(folder());
    expect(withBooted(folder(), { ...id(1), serial: 1 })).toEqual(folder());
  });
});
