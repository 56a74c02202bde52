import { z } from 'zod';
import { header, id, text, time } from '../fields.js';
import { UPDATE_PHASES } from './status.js';

/** What happened: entering an update phase, or one of these moments that are not phases. */
export const EVENT_TYPES = [
  ...UPDATE_PHASES,
  'refused',
  'health-check-passed',
  'health-check-failed',
  'command-received',
  'command-refused',
  'command-completed',
  'command-failed',
  'booted',
  /** A release the device holds back for its group's rollout: not in the wave, paused or aborted (docs/contract.md, "Rollout"). */
  'rollout-waiting',
] as const;

/**
 * One event of an update, published (not retained) as it happens.
 *
 * @example
 * const e: DeviceEvent = { apiVersion: 'deb-ota/v1', kind: 'Event', device: 'gw-1', updateId: '1.2', type: 'refused', reason: 'below the floor 1.1', time: '2026-01-01T00:00:00Z' };
 */
export const eventSchema = z.strictObject({
  ...header('Event'),
  device: id,
  updateId: z.string().min(1).max(128).nullable(),
  type: z.enum(EVENT_TYPES),
  reason: text.nullable(),
  time,
});

export type DeviceEvent = z.infer<typeof eventSchema>;
export type EventType = z.infer<typeof eventSchema>['type'];
