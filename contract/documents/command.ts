import { z } from 'zod';
import { header, id, text, version } from '../fields.js';

/** Whom a command is for: one device, or every device of a group. */
export const commandTarget = z.union([z.strictObject({ device: id }), z.strictObject({ group: id })]);

/**
 * Roll back to the previous deployment (no `version`) or to a named published version. Going below
 * the anti-rollback floor needs `belowFloor: true`, which is part of the signed command, so only
 * the release key's holder can ask for it. `onlyFrom`: act only when the booted version is that one
 * (a group command that returns only the devices that took one release).
 */
const rollback = z
  .strictObject({ type: z.literal('rollback'), version: version.optional(), belowFloor: z.boolean().optional(), onlyFrom: version.optional() })
  .refine((a) => a.belowFloor !== true || a.version !== undefined, { message: 'belowFloor needs a version to roll back to', path: ['belowFloor'] });

/** What a command asks for (docs/contract.md, "Command"). */
export const commandAction = z.union([
  /** Check the group's release now and apply it; with `version`, only when that is the release. */
  z.strictObject({ type: z.literal('update'), version: version.optional() }),
  rollback,
  z.strictObject({ type: z.literal('reboot') }),
  z.strictObject({ type: z.literal('health-check') }),
  /** Send status and inventory again. */
  z.strictObject({ type: z.literal('report') }),
]);

/**
 * A command an operator sends to a device or group. It travels only signed (typ
 * `deb-ota-command+jws`, with `jti` as its nonce and a short expiry), never as plain JSON.
 *
 * @example
 * const c: Command = { apiVersion: 'deb-ota/v1', kind: 'Command', target: { device: 'gw-1' }, action: { type: 'reboot' }, reason: null };
 */
export const commandSchema = z.strictObject({
  ...header('Command'),
  target: commandTarget,
  action: commandAction,
  /** Why, for the device's journal and the fleet's audit. */
  reason: text.nullable(),
});

export type Command = z.infer<typeof commandSchema>;
export type CommandAction = z.infer<typeof commandAction>;
export type CommandTarget = z.infer<typeof commandTarget>;
