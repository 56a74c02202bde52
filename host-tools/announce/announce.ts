import { readFile, stat } from 'node:fs/promises';
import { OtaError } from '../../common/errors.js';
import { JWS_TYP, MAX_JWS_CHARS, loadTrustedKeys, parseDocument, readSigned, topics, type ReleaseManifest } from '../../contract/index.js';
import { connectBroker, type BrokerOptions } from '../mqtt/client.js';

/**
 * `ota announce`: sends a signed release manifest, retained and with QoS 1, on a group's topic
 * (docs/releases.md, "Announcing"), so that every device of the group, connected now or later,
 * receives it. Everything is checked before the broker is contacted: the file, the topic, and
 * the manifest (verified with the release key when one is given, else at least a well-formed,
 * unexpired release JWS). It returns once the broker acknowledged the message.
 *
 * @example
 * const r = await announce({ broker: { url: 'mqtt://127.0.0.1:1883' }, group: 'lab', releaseFile: 'PUBLISHED/releases/os/1.2.jws', keyPath: 'keys/' });
 * r.topic; // 'ota/groups/lab/release'
 */
export interface AnnounceOptions {
  broker: BrokerOptions;
  group: string;
  releaseFile: string;
  /** Topic prefix (default `ota`). */
  prefix?: string;
  /** The trusted public keys (release.pub.jwks or its directory): verify before sending. */
  keyPath?: string;
  now?: Date;
}

export interface AnnounceResult {
  topic: string;
  group: string;
  broker: string;
  protocol: '5' | '3.1.1';
  ref: string;
  version: string;
  commit: string;
  /** The group the manifest itself names, if any. */
  manifestGroup: string | null;
  /** true when checked with --key; false when only its form was checked. */
  verified: boolean;
  kid: string;
  expiresAt: string;
  bytes: number;
}

export async function announce(o: AnnounceOptions): Promise<AnnounceResult> {
  const topic = topics(o.prefix).groupRelease(o.group);
  const jws = await readReleaseFile(o.releaseFile);
  const checked = o.keyPath !== undefined ? await verified(jws, o.keyPath, o.now) : inspectUnverified(jws, o.now ?? new Date());
  const session = await connectBroker(o.broker);
  try {
    await session.publish(topic, jws, { qos: 1, retain: true });
  } finally {
    await session.close();
  }
  const u = new URL(o.broker.url);
  const m = checked.doc;
  return {
    topic,
    group: o.group,
    broker: `${u.protocol}//${u.host}`,
    protocol: session.protocol,
    ref: m.ref,
    version: m.version,
    commit: m.commit,
    manifestGroup: m.group,
    verified: o.keyPath !== undefined,
    kid: checked.kid,
    expiresAt: checked.expiresAt.toISOString(),
    bytes: Buffer.byteLength(jws),
  };
}

async function readReleaseFile(path: string): Promise<string> {
  const hint = 'give a release manifest `ota publish` wrote (PUBLISHED/releases/<ref>/<version>.jws)';
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) throw new OtaError('ERR_OTA_USAGE', `--release ${path}: no such file`, { hint });
  if (st.size > MAX_JWS_CHARS.release + 2) throw new OtaError('ERR_OTA_JWS_TOO_LARGE', `--release ${path}: ${st.size} bytes, over the limit of ${MAX_JWS_CHARS.release}`, { hint });
  // The file may end with a newline; the JWS itself never has whitespace.
  return (await readFile(path, 'utf8')).trim();
}

interface Checked {
  doc: ReleaseManifest;
  kid: string;
  expiresAt: Date;
}

async function verified(jws: string, keyPath: string, now: Date | undefined): Promise<Checked> {
  const trusted = await loadTrustedKeys(keyPath);
  const v = await readSigned('release', jws, trusted, now ? { now } : {});
  return { doc: v.doc as ReleaseManifest, kid: v.kid, expiresAt: v.expiresAt };
}

/**
 * Without a key the signature cannot be checked, but a file that is no release JWS, a command, or
 * a manifest that has expired is still refused: devices would only throw it away.
 */
export function inspectUnverified(jws: string, now: Date): Checked {
  const refuse = (code: 'ERR_OTA_JWS_MALFORMED' | 'ERR_OTA_JWS_TYP' | 'ERR_OTA_JWS_EXPIRED', why: string, hint?: string) =>
    new OtaError(code, `release manifest refused: ${why}`, { hint: hint ?? 'give a release manifest `ota publish` wrote' });
  const parts = jws.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) throw refuse('ERR_OTA_JWS_MALFORMED', 'not a compact JWS (three base64url parts separated by dots)');
  const header = decodeJson(parts[0]!);
  const payload = decodeJson(parts[1]!);
  if (header === undefined || payload === undefined) throw refuse('ERR_OTA_JWS_MALFORMED', 'its header or payload is not base64url of a JSON object');
  if (header.typ !== JWS_TYP.release) throw refuse('ERR_OTA_JWS_TYP', `typ ${JSON.stringify(header.typ)} is not ${JWS_TYP.release}`, 'only release manifests are announced; commands go to a device\'s own topic');
  if (header.alg !== 'EdDSA' || typeof header.kid !== 'string') throw refuse('ERR_OTA_JWS_MALFORMED', 'the header lacks alg EdDSA or a kid');
  const { iat: _iat, nbf: _nbf, exp, jti: _jti, ...fields } = payload;
  if (typeof exp !== 'number') throw refuse('ERR_OTA_JWS_MALFORMED', 'it has no expiry (exp)');
  if (exp * 1000 <= now.getTime()) throw refuse('ERR_OTA_JWS_EXPIRED', `it expired at ${new Date(exp * 1000).toISOString()}`, 'publish the version again to get a fresh manifest');
  const doc = parseDocument('Release', fields);
  return { doc, kid: header.kid, expiresAt: new Date(exp * 1000) };
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
