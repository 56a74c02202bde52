import { z } from 'zod';
import { header, id, time } from '../fields.js';

/**
 * Whether a device is connected (retained on `devices/<id>/online`). The device publishes it
 * online after each connection and leaves the offline copy as its MQTT last will, which the broker
 * publishes unchanged: so `connectedAt` is when the connection that set the will began, not when
 * the device went away (a broker cannot stamp a will).
 *
 * @example
 * const p: Presence = { apiVersion: 'deb-ota/v1', kind: 'Presence', device: 'gw-1', online: false, agentVersion: '0.1.0', connectedAt: '2026-01-01T00:00:00Z' };
 */
export const presenceSchema = z.strictObject({
  ...header('Presence'),
  device: id,
  online: z.boolean(),
  agentVersion: z.string().min(1).max(64),
  connectedAt: time,
});

export type Presence = z.infer<typeof presenceSchema>;
