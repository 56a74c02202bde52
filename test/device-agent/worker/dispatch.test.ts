import { describe, expect, it } from 'vitest';
import type { Command, CommandAction } from '../../../contract/index.js';
import { beginUpdate, initialRecord, type AgentRecord } from '../../../device-agent/engine/record.js';
import type { State } from '../../../device-agent/engine/states.js';
import { decideCommand, targetRefusal } from '../../../device-agent/worker/dispatch.js';

const device = { deviceId: 'gw-1', group: 'lab' };
const command = (action: CommandAction, target: Command['target'] = { device: 'gw-1' }): Command => ({ apiVersion: 'deb-ota/v1', kind: 'Command', target, action, reason: null });
const idle = (floor: string | null = null): AgentRecord => ({ ...initialRecord(), floor });
/** A record in `state` with an update in progress (the state set directly: only the decision reads it). */
const inState = (state: State): AgentRecord => ({ ...beginUpdate(initialRecord(), { id: 'u1', at: new Date(0) }), state });

describe('decideCommand: a verified command, the record and the device to an action or a refusal', () => {
  it('each action, on an idle device', () => {
    expect(decideCommand({ command: command({ type: 'update' }), record: idle(), device })).toEqual({ kind: 'update', version: null });
    expect(decideCommand({ command: command({ type: 'update', version: '1.2' }), record: idle(), device })).toEqual({ kind: 'update', version: '1.2' });
    expect(decideCommand({ command: command({ type: 'rollback' }), record: idle(), device })).toEqual({ kind: 'rollback' });
    expect(decideCommand({ command: command({ type: 'rollback', version: '1.0' }), record: idle(), device })).toEqual({ kind: 'deploy', version: '1.0', belowFloor: false });
    expect(decideCommand({ command: command({ type: 'reboot' }), record: idle(), device })).toEqual({ kind: 'reboot' });
    expect(decideCommand({ command: command({ type: 'health-check' }), record: idle(), device })).toEqual({ kind: 'health-check' });
    expect(decideCommand({ command: command({ type: 'report' }), record: idle(), device })).toEqual({ kind: 'report' });
  });

  it('a command for another device or another group is refused whatever it asks; its own group is accepted', () => {
    for (const target of [{ device: 'gw-2' }, { group: 'other' }]) {
      const d = decideCommand({ command: command({ type: 'report' }, target), record: idle(), device });
      expect(d).toMatchObject({ kind: 'refuse', reason: 'not-for-this-device' });
    }
    expect(targetRefusal(command({ type: 'report' }, { device: 'gw-2' }), device)).toBe('the command is for device gw-2, this is gw-1');
    expect(decideCommand({ command: command({ type: 'report' }, { group: 'lab' }), record: idle(), device })).toEqual({ kind: 'report' });
  });

  it('below the floor: refused without belowFloor, a deploy allowing it with; above the floor needs nothing', () => {
    const record = idle('1.1');
    for (const v of ['1.0', '1.1']) {
      expect(decideCommand({ command: command({ type: 'rollback', version: v }), record, device })).toMatchObject({ kind: 'refuse', reason: 'below-floor', detail: expect.stringContaining(`version ${v} is at or below the anti-rollback floor 1.1`) as unknown });
      expect(decideCommand({ command: command({ type: 'rollback', version: v, belowFloor: true }), record, device })).toEqual({ kind: 'deploy', version: v, belowFloor: true });
    }
    expect(decideCommand({ command: command({ type: 'rollback', version: '1.1+1' }), record, device })).toEqual({ kind: 'deploy', version: '1.1+1', belowFloor: false });
  });

  it('an update or rollback while an update is in progress or waits is busy; a reboot only while one is worked on', () => {
    for (const state of ['checking', 'downloading', 'downloaded', 'arming', 'deploying', 'awaitingReboot', 'verifying', 'rollingBack'] as const) {
      for (const action of [{ type: 'update' }, { type: 'rollback' }, { type: 'rollback', version: '1.0' }] as const) {
        expect(decideCommand({ command: command(action), record: inState(state), device }), `${action.type} in ${state}`).toMatchObject({ kind: 'refuse', reason: 'busy', detail: expect.stringContaining(`update u1 is in ${state}`) as unknown });
      }
    }
    for (const state of ['arming', 'deploying', 'rebooting', 'verifying', 'committing', 'rollingBack', 'checking', 'downloading'] as const) {
      expect(decideCommand({ command: command({ type: 'reboot' }), record: inState(state), device }), state).toMatchObject({ kind: 'refuse', reason: 'busy' });
    }
    for (const state of ['downloaded', 'awaitingReboot'] as const) {
      expect(decideCommand({ command: command({ type: 'reboot' }), record: inState(state), device }), state).toEqual({ kind: 'reboot' });
      expect(decideCommand({ command: command({ type: 'report' }), record: inState(state), device })).toEqual({ kind: 'report' });
    }
  });

  it('a rollback with onlyFrom acts only on a device booted on that version; the others refuse it as not-on-version', () => {
    const action = { type: 'rollback', onlyFrom: '1.2' } as const;
    const group = { group: 'lab' };
    expect(decideCommand({ command: command(action, group), record: idle(), device, bootedVersion: '1.2' })).toEqual({ kind: 'rollback' });
    expect(decideCommand({ command: command({ ...action, version: '1.1' }, group), record: idle(), device, bootedVersion: '1.2' })).toEqual({ kind: 'deploy', version: '1.1', belowFloor: false });
    for (const booted of ['1.1', '1.2+1', null]) {
      expect(decideCommand({ command: command(action, group), record: idle(), device, bootedVersion: booted }), String(booted)).toMatchObject({ kind: 'refuse', reason: 'not-on-version', detail: expect.stringContaining('only for devices running 1.2') as unknown });
    }
  });
});
