/**
 * The operator's side of the MQTT proof: signed commands and releases made with the contract's
 * `signDocument` and the fleet's own release key (what `ota keys generate` wrote), the release
 * announced by the real `ota announce`, and a plain mqtt.js client for what no tool of ours would
 * send (a forged, damaged or oversized payload): anyone who can publish on the broker can send it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CompactSign } from 'jose';
import { connect } from 'mqtt';
import { run } from '../../../common/exec.js';
import { loadSigningKey, signDocument, topics, type CommandAction, type CommandTarget, type ReleaseManifest, type SigningKey, type SignOptions } from '../../../contract/index.js';
import { bundledChild } from '../../helpers/bundled-child.js';
import type { Fleet } from '../agent/device.js';
import { REF } from '../update/harness.js';

const REPO = join(import.meta.dirname, '../../..');
const OTA = join(REPO, 'test/helpers/ota-cli.ts');

/** The fleet's release key (the private half `ota keys generate` wrote), which devices trust. */
export function operatorKey(f: Fleet): Promise<SigningKey> {
  return loadSigningKey(f.publisher.keyDir);
}

/** A signed command for one device (or `{ group }`), as the fleet tools will send it. */
export function command(key: SigningKey, target: CommandTarget, action: CommandAction, opts: SignOptions = {}): Promise<string> {
  return signDocument('command', { apiVersion: 'deb-ota/v1', kind: 'Command', target, action, reason: 'proof' }, key, opts);
}

/** The path of a release `ota publish` wrote. */
export function releaseFile(f: Fleet, version: string): string {
  return join(f.publisher.pub, 'releases', REF, `${version}.jws`);
}

/** The payload of a published release, less its claims: what to edit and sign again. */
export async function releaseManifest(f: Fleet, version: string): Promise<ReleaseManifest> {
  const payload = JSON.parse(Buffer.from((await readFile(releaseFile(f, version), 'utf8')).trim().split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  for (const k of ['iat', 'nbf', 'exp', 'jti']) delete payload[k];
  return payload as unknown as ReleaseManifest;
}

/**
 * A compact JWS of any header and payload, signed with `key`: a document the contract's signer
 * would refuse to make (an unknown key), signed by a holder of the real key.
 */
export function signRaw(key: SigningKey, header: Record<string, unknown>, payload: unknown): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'EdDSA', kid: key.kid, ...header }).sign(key.privateKey);
}

/** The same JWS with one character of its signature changed: a signature that does not verify. */
export function tampered(jws: string): string {
  const [h, p, s] = jws.split('.') as [string, string, string];
  const i = Math.floor(s.length / 2);
  return `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
}

/** The JWS claims of a payload signed now: what signRaw needs for a document that is otherwise valid. */
export function claims(lifetimeSeconds: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(Date.now() / 1000);
  return { iat, nbf: iat, exp: iat + lifetimeSeconds, ...extra };
}

/** Writes a release JWS to a file in `dir`, for `ota announce --release`. */
export async function writeRelease(dir: string, name: string, jws: string): Promise<string> {
  const file = join(dir, `${name}.jws`);
  await writeFile(file, `${jws}\n`);
  return file;
}

/** `ota announce` (the real CLI, its own process): the release, retained, on the group's topic; checked with the fleet's key. */
export async function announce(f: Fleet, broker: string, file: string, group: string): Promise<void> {
  const argv = [process.execPath, await bundledChild(OTA), 'announce', '--broker', broker, '--group', group, '--release', file, '--key', f.publisher.keyDir, '--json'];
  await run('ota announce', argv, { cwd: REPO });
}

/** What anyone on the broker can do: publish bytes on a topic (QoS 1), and wait for the broker's acknowledgement. */
export async function publishRaw(url: string, messages: { topic: string; payload: string | Buffer; retain?: boolean }[]): Promise<void> {
  const client = connect(url, { reconnectPeriod: 0, protocolVersion: 4, clientId: `intruder-${process.pid}-${Math.random().toString(36).slice(2)}` });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    for (const m of messages) await client.publishAsync(m.topic, m.payload, { qos: 1, retain: m.retain ?? false });
  } finally {
    await client.endAsync();
  }
}

/** The device's command topic and its group's release topic under the default prefix. */
export const TOPICS = topics();
