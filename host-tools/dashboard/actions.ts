/**
 * The dashboard's actions (docs/dashboard.md, "Actions"): the page POSTs a small JSON body, which
 * is checked as strictly as the CLI checks its arguments; then the same functions the CLI calls
 * run, signing with the key the dashboard was started with. The page never sees the key.
 *
 * @example
 * const actions = rollbackActions({ broker, prefix: 'ota', keyPath: 'keys/' });
 * await actions['rollback-device']!({ device: 'gw-1' });
 */
import { z } from 'zod';
import { OtaError } from '../../common/errors.js';
import { ID_PATTERN, LIMITS } from '../../contract/index.js';
import type { BrokerOptions } from '../mqtt/client.js';
import { fleetRollback } from '../fleet/rollback.js';
import type { Action } from './routes.js';

const idField = z.string().min(1).max(LIMITS.idChars).regex(ID_PATTERN);
const reason = z.string().min(1).max(LIMITS.textChars).optional();
export const groupBody = z.strictObject({ group: idField, reason });
const deviceBody = z.strictObject({ device: idField, reason });

export interface ActionOptions {
  broker: BrokerOptions;
  prefix: string;
  /** The operator's signing key (`--signing-key`); absent: every action is refused. */
  keyPath?: string;
}

/** Parses an action's body, refusing what the schema does not allow (exit code 2: bad input). */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) throw new OtaError('ERR_OTA_USAGE', `the action's body is refused: ${r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

export function requireKey(keyPath: string | undefined): string {
  if (keyPath === undefined) throw new OtaError('ERR_OTA_USAGE', 'this dashboard was started without --signing-key: it cannot sign an action', { hint: 'restart it with --signing-key DIR (the key `ota fleet rollout --key` uses)' });
  return keyPath;
}

/**
 * Rolling a device or a group back, as `ota fleet rollback --device D` and `--group G` do, to each
 * device's rollback deployment: the command is signed and published once, and the page sees the
 * devices come back through their statuses, as the CLI would (it is not waited for here).
 */
export function rollbackActions(o: ActionOptions): Record<string, Action> {
  const rollback = async (scope: { device: string } | { group: string }, why: string | undefined) => {
    const r = await fleetRollback({ broker: o.broker, prefix: o.prefix, key: requireKey(o.keyPath), scope, timeoutSeconds: 0, reason: why ?? 'rolled back from the dashboard' });
    return { nonce: r.nonce, topic: r.topic, devices: r.counts.devices };
  };
  return {
    'rollback-device': async (body) => {
      const b = parseBody(deviceBody, body);
      return rollback({ device: b.device }, b.reason);
    },
    'rollback-group': async (body) => {
      const b = parseBody(groupBody, body);
      return rollback({ group: b.group }, b.reason);
    },
  };
}
