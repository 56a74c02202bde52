/**
 * The operator's side of a command (docs/fleet.md, "Signed commands"): a Command document
 * (docs/contract.md, "Command") signed with the release key, as `ota publish` loads it, with a
 * fresh nonce and a short expiry, published once with QoS 1 and no retain on the device's or the
 * group's commands topic. A retained command would reach every device that subscribes later, long
 * after the operator meant it; a device that is away keeps its persistent session, and the broker
 * delivers the command when it returns, until the command expires.
 *
 * @example
 * const cmd = await signFleetCommand({ key, target: { group: 'lab' }, action: { type: 'rollback' }, reason: null });
 * await publishFleetCommand(session, 'ota', cmd);
 */
import { API_VERSION, signDocument, topics, type CommandAction, type CommandTarget, type SigningKey } from '../../contract/index.js';
import type { BrokerSession } from '../mqtt/client.js';

/** A command's default lifetime: long enough for a device that reconnects, short enough that a copy soon stops working. */
export const COMMAND_LIFETIME_SECONDS = 900;

export interface FleetCommandInput {
  key: SigningKey;
  target: CommandTarget;
  action: CommandAction;
  reason: string | null;
  now?: Date;
  expiresInSeconds?: number;
}

export interface SignedFleetCommand {
  jws: string;
  /** Its `jti`: the devices' events for it carry this as their updateId. */
  nonce: string;
  target: CommandTarget;
  action: CommandAction;
  issuedAt: Date;
  expiresAt: Date;
}

export async function signFleetCommand(i: FleetCommandInput): Promise<SignedFleetCommand> {
  const now = i.now ?? new Date();
  const lifetime = i.expiresInSeconds ?? COMMAND_LIFETIME_SECONDS;
  const doc = { apiVersion: API_VERSION, kind: 'Command' as const, target: i.target, action: i.action, reason: i.reason };
  const jws = await signDocument('command', doc, i.key, { now, expiresInSeconds: lifetime });
  const nonce = (JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string }).jti;
  const issuedAt = new Date(Math.floor(now.getTime() / 1000) * 1000);
  return { jws, nonce, target: i.target, action: i.action, issuedAt, expiresAt: new Date(issuedAt.getTime() + lifetime * 1000) };
}

/** The topic a command goes to: its device's commands, or its group's. */
export function commandTopic(prefix: string, target: CommandTarget): string {
  const t = topics(prefix);
  return 'device' in target ? t.deviceCommands(target.device) : t.groupCommands(target.group);
}

/** One publish, QoS 1, not retained; resolves once the broker acknowledged it. */
export async function publishFleetCommand(session: BrokerSession, prefix: string, cmd: SignedFleetCommand): Promise<string> {
  const topic = commandTopic(prefix, cmd.target);
  await session.publish(topic, cmd.jws, { qos: 1, retain: false });
  return topic;
}
