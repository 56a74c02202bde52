import { JWS_TYP, MAX_JWS_CHARS, type SignedKind } from '../../contract/limits.js';

/**
 * The relay's cheap look at a message before any worker starts
 * (docs/agent.md, "The daemon and its workers"): a subscribed topic, the size, UTF-8, and the compact JWS's shape and header. It
 * only ever rejects; everything it lets through is still verified by a worker (readSigned), so
 * a check here that is too kind costs a process start, never trust.
 *
 * @example
 * const r = precheckMessage(topic, payload, { releaseTopic, rolloutTopic, commandTopic, groupCommandTopic, maxPayloadBytes: 4194304, trustedKids: null });
 * if (!r.ok) report(r.kind, r.reason, r.detail);
 */
export interface PrecheckContext {
  releaseTopic: string;
  rolloutTopic: string;
  commandTopic: string;
  /** The group's commands (docs/contract.md, "MQTT topics (version 1)"): read as commands too; the worker checks the target. */
  groupCommandTopic: string;
  /** mqtt.maxPayloadBytes; the kind's contract limit applies too. */
  maxPayloadBytes: number;
  /** The kids of the trusted keys, or null when the relay could not learn them (the worker still checks). */
  trustedKids: readonly string[] | null;
}

export type PrecheckReason = 'topic' | 'too-large' | 'malformed' | 'alg' | 'typ' | 'kid';

export type Precheck =
  | { ok: true; kind: SignedKind; jws: string }
  | { ok: false; kind: SignedKind | null; reason: PrecheckReason; detail: string };

const B64URL = /^[A-Za-z0-9_-]+$/;
/** A header is three short fields; anything longer is not ours. */
const MAX_HEADER_CHARS = 1024;

export function precheckMessage(topic: string, payload: Uint8Array, ctx: PrecheckContext): Precheck {
  const kind: SignedKind | null = topic === ctx.releaseTopic ? 'release' : topic === ctx.rolloutTopic ? 'rollout' : topic === ctx.commandTopic || topic === ctx.groupCommandTopic ? 'command' : null;
  if (kind === null) return { ok: false, kind, reason: 'topic', detail: `a message on ${topic}, which the agent does not subscribe to` };
  const limit = Math.min(ctx.maxPayloadBytes, MAX_JWS_CHARS[kind]);
  if (payload.byteLength > limit) return { ok: false, kind, reason: 'too-large', detail: `${payload.byteLength} bytes, over the limit of ${limit}` };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    return { ok: false, kind, reason: 'malformed', detail: 'not UTF-8' };
  }
  const header = jwsHeader(text);
  if (typeof header === 'string') return { ok: false, kind, reason: 'malformed', detail: header };
  if (header.alg !== 'EdDSA') return { ok: false, kind, reason: 'alg', detail: `alg ${JSON.stringify(header.alg)}, not EdDSA` };
  if (header.typ !== JWS_TYP[kind]) return { ok: false, kind, reason: 'typ', detail: `typ ${JSON.stringify(header.typ)}, not ${JWS_TYP[kind]}` };
  if (typeof header.kid !== 'string' || header.kid === '') return { ok: false, kind, reason: 'kid', detail: 'no kid in the header' };
  if (ctx.trustedKids !== null && !ctx.trustedKids.includes(header.kid)) {
    return { ok: false, kind, reason: 'kid', detail: `kid ${JSON.stringify(header.kid.slice(0, 80))} is not a trusted key` };
  }
  return { ok: true, kind, jws: text };
}

/** The protected header of a compact JWS as an object, or why the text is not one. */
function jwsHeader(text: string): Record<string, unknown> | string {
  const parts = text.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) return 'not a compact JWS (three base64url parts)';
  if (parts[0]!.length > MAX_HEADER_CHARS) return 'a JWS header over 1024 characters';
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
  } catch {
    return 'the JWS header is not JSON';
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) return 'the JWS header is not a JSON object';
  return header as Record<string, unknown>;
}

/** The longest payload part whose `jti` is looked for: a command is far smaller (docs/contract.md, "Command"). */
const MAX_PAYLOAD_PART_CHARS = 64 * 1024;

/**
 * The nonce (`jti`) a command claims, read without trusting it, or null when it cannot be read. A refusal of a
 * command whose signature, key or expiry is not accepted carries it as its `updateId`, so the operator's tool
 * matches the refusal to the command it sent, and a refusal that names no nonce to none (docs/fleet.md,
 * "ota fleet rollback").
 *
 * @example
 * claimedNonce(commandJws); // 'n-4f2c…' or null
 */
export function claimedNonce(text: string): string | null {
  const parts = text.trim().split('.');
  if (parts.length !== 3 || parts[1]!.length > MAX_PAYLOAD_PART_CHARS || !B64URL.test(parts[1]!)) return null;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    const jti = claims !== null && typeof claims === 'object' ? (claims as Record<string, unknown>).jti : undefined;
    return typeof jti === 'string' && jti.length >= 1 && jti.length <= 128 ? jti : null;
  } catch {
    return null;
  }
}
