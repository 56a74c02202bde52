/**
 * What a verified command makes the device do, as data (docs/agent.md, "The worker protocol"; docs/conventions.md,
 * "Plan as data"): a pure function of the command, the state record and the device's identity, so every refusal
 * is unit-tested without a sysroot. The command job carries the action out.
 *
 * @example
 * decideCommand({ command, record, device: { deviceId: 'gw-1', group: 'lab' } });
 * // { kind: 'deploy', version: '1.0', belowFloor: true }
 */
import { compareVersions, type Command } from '../../contract/index.js';
import type { AgentRecord } from '../engine/record.js';
import { isResting } from '../engine/states.js';

/** Why a command is refused (the `reason` of its command-refused event starts with it). */
export type CommandRefusal = 'not-for-this-device' | 'busy' | 'below-floor' | 'not-on-version';

export type CommandDecision =
  | { kind: 'refuse'; reason: CommandRefusal; detail: string }
  /** Check the group's release now, as an upgrade; with a version, only when that is the release. */
  | { kind: 'update'; version: string | null }
  /** The deployment after the running one. */
  | { kind: 'rollback' }
  /** A published version of the running ref, as a deploy (belowFloor signed by the operator). */
  | { kind: 'deploy'; version: string; belowFloor: boolean }
  | { kind: 'reboot' }
  | { kind: 'health-check' }
  | { kind: 'report' };

export interface DecideInput {
  command: Command;
  record: AgentRecord;
  device: { deviceId: string; group: string };
  /** The booted deployment's version (null: none or unknown); read only for a rollback with `onlyFrom`. */
  bootedVersion?: string | null;
}

/** Whether the command is for this device: its id, or its group. */
export function targetRefusal(command: Command, device: DecideInput['device']): string | null {
  const t = command.target;
  if ('device' in t) return t.device === device.deviceId ? null : `the command is for device ${t.device}, this is ${device.deviceId}`;
  return t.group === device.group ? null : `the command is for group ${t.group}, this device is in ${device.group}`;
}

export function decideCommand({ command, record, device, bootedVersion = null }: DecideInput): CommandDecision {
  const other = targetRefusal(command, device);
  if (other !== null) return { kind: 'refuse', reason: 'not-for-this-device', detail: other };
  const a = command.action;
  switch (a.type) {
    case 'report':
    case 'health-check':
      return { kind: a.type };
    case 'reboot':
      // A resting record (idle, downloaded, awaiting its reboot) is safe to reboot from; in a working state a
      // process is driving an update (between arming and verifying, a reboot would cut its safety order).
      return isResting(record.state) ? { kind: 'reboot' } : busy(record, 'reboot');
    case 'update':
      return record.state === 'idle' ? { kind: 'update', version: a.version ?? null } : busy(record, 'update');
    case 'rollback': {
      // A group's rollback after an aborted rollout returns only the devices that took its release
      // (docs/fleet.md, "Group commands"): the others say so and stay where they are.
      if (a.onlyFrom !== undefined && bootedVersion !== a.onlyFrom) {
        return { kind: 'refuse', reason: 'not-on-version', detail: `the command is only for devices running ${a.onlyFrom}; this one runs ${bootedVersion ?? 'an unknown version'}` };
      }
      if (record.state !== 'idle') return busy(record, 'rollback');
      if (a.version === undefined) return { kind: 'rollback' };
      const below = record.floor !== null && compareVersions(a.version, record.floor) <= 0;
      if (below && a.belowFloor !== true) {
        return { kind: 'refuse', reason: 'below-floor', detail: `version ${a.version} is at or below the anti-rollback floor ${record.floor}; the command must carry belowFloor: true` };
      }
      return { kind: 'deploy', version: a.version, belowFloor: a.belowFloor === true };
    }
  }
}

function busy(record: AgentRecord, what: string): CommandDecision {
  const doing = record.update === null ? `the agent is ${record.state}` : `update ${record.update.id} is in ${record.state}`;
  return { kind: 'refuse', reason: 'busy', detail: `cannot ${what}: ${doing}` };
}
