import { readFile, stat } from 'node:fs/promises';
import { OtaError } from '../../common/errors.js';
import { MAX_JWS_CHARS, loadTrustedKeys, readSigned, readUnverified, topics, type ReleaseManifest } from '../../contract/index.js';
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
 * Without a key the signature cannot be checked, but what every device would refuse anyway (a
 * file that is no release JWS, a command, a manifest expired or not yet valid, a schema problem)
 * is still refused, by the contract's own reader less the key checks.
 */
export function inspectUnverified(jws: string, now: Date): Checked {
  const v = readUnverified('release', jws, { now });
  return { doc: v.doc as ReleaseManifest, kid: v.kid, expiresAt: v.expiresAt };
}
