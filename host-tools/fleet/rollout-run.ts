/**
 * `ota fleet rollout`'s work (docs/fleet.md, "ota fleet rollout"): start a rollout, or continue the one the
 * state file holds for the same release, then follow the devices' retained documents and carry out what the
 * pure `decide` says until the rollout completes, halts or is aborted. Progress goes to `onProgress`.
 *
 * @example
 * const r = await runRollout({ broker, prefix: 'ota', group: 'canary', releaseFile, keyPath: 'keys/', statePath, plan });
 * r.state.phase; // 'completed'
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { OtaError } from '../../common/errors.js';
import { loadSigningKey, loadTrustedKeys, readSigned, topics, type SigningKey } from '../../contract/index.js';
import { announce } from '../announce/announce.js';
import type { BrokerOptions } from '../mqtt/client.js';
import { openFleetFeed, type FleetFeed } from './feed.js';
import { applyMessage, newFleetState, type FleetState } from './fleet-state.js';
import { applyActions, countWave, decide, type DeviceObservation, type WaveCount } from './rollout-decide.js';
import { withStateLock } from './rollout-lock.js';
import { writeReleasePointer, writeRolloutTwin } from './rollout-twin.js';
import { publishRollout, retainedMatches } from './rollout-publish.js';
import { ended, loadRolloutState, saveRolloutState, type RolloutControl } from './rollout-state.js';
import { jwsDigest } from './rollout-release.js';

export interface RolloutPlan {
  waves: number[];
  soakSeconds: number;
  maxFailureBasisPoints: number;
  minDevices: number;
}

export interface RolloutOptions {
  broker: BrokerOptions;
  prefix: string;
  group: string;
  releaseFile: string;
  /** The signing key's directory: it signs the rollout documents, its public half checks the release. */
  keyPath: string;
  statePath: string;
  plan: RolloutPlan;
  /** The rollout's id (default: random). It decides who is in which wave, so a fixed one makes the waves known in advance. */
  id?: string;
  onProgress?: (p: RolloutProgress) => void;
  /** Stops following (Ctrl-C): the rollout goes on when the command is run again. */
  signal?: AbortSignal;
  /** How often the state is decided again (default 500 ms). */
  roundMs?: number;
}

export interface RolloutProgress {
  state: RolloutControl;
  wave: WaveCount;
  /** Devices of the group the controller knows (their status names the group). */
  devices: number;
  /** Seconds of the current soak left, or null when not soaking. */
  soakLeftSeconds: number | null;
}

export interface RolloutResult extends RolloutProgress {
  /** True when an earlier run's state was continued. */
  continued: boolean;
  /** True when the run stopped on its signal before the rollout ended. */
  interrupted: boolean;
}

export async function runRollout(o: RolloutOptions): Promise<RolloutResult> {
  const key = await loadSigningKey(o.keyPath);
  const release = await readRelease(o.releaseFile, key);
  const found = await loadRolloutState(o.statePath);
  const continued = found !== null && found.release.sha256 === release.sha256 && found.group === o.group;
  if (found !== null && !continued && !ended(found.phase)) {
    throw new OtaError('ERR_OTA_USAGE', `group ${found.group} has a rollout of ${found.release.version} that is ${found.phase} (${o.statePath})`, {
      hint: `let it end, or \`ota fleet abort ${found.group}\` it, before rolling out ${release.version}`,
    });
  }
  let state = continued ? found : newState(o, release);
  const fleet = newFleetState(o.prefix);
  const t = topics(o.prefix);
  const retained: { rollout: string | null; release: string | null } = { rollout: null, release: null };
  const feed = await openFleetFeed({
    broker: o.broker,
    prefix: o.prefix,
    filters: ['devices/+/status', 'devices/+/online', `groups/${o.group}/rollout`, `groups/${o.group}/release`],
    onMessage: (topic, payload) => {
      if (topic === t.groupRollout(o.group)) retained.rollout = payload.toString('utf8');
      else if (topic === t.groupRelease(o.group)) retained.release = payload.toString('utf8').trim();
      else applyMessage(fleet, topic, payload);
    },
  });
  try {
    await feed.burstEnd;
    if (!ended(state.phase)) {
      state = await withStateLock(o.statePath, async () => {
        // A pause or an abort since the file was first read is kept.
        const current = continued ? ((await loadRolloutState(o.statePath)) ?? state) : state;
        return ensurePublished({ o, feed, key, state: current, retained, release });
      });
    }
    return await follow({ o, feed, key, fleet, state, continued });
  } finally {
    await feed.close();
  }
}

interface ReleaseFile {
  jws: string;
  version: string;
  commit: string;
  sha256: string;
}

async function readRelease(file: string, key: SigningKey): Promise<ReleaseFile> {
  const text = await readFile(file, 'utf8').catch((e: unknown) => {
    throw new OtaError('ERR_OTA_USAGE', `--release ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { hint: 'give a release manifest `ota publish` wrote (PUBLISHED/releases/<ref>/<version>.jws)' });
  });
  const jws = text.trim();
  const v = await readSigned('release', jws, await loadTrustedKeys({ keys: [key.publicJwk] }));
  return { jws, version: v.doc.version, commit: v.doc.commit, sha256: jwsDigest(jws) };
}

function newState(o: RolloutOptions, r: ReleaseFile): RolloutControl {
  const now = new Date().toISOString();
  const id = o.id ?? `r-${Math.floor(Date.now() / 1000).toString(36)}-${randomBytes(3).toString('hex')}`;
  return {
    apiVersion: 'deb-ota/v1',
    kind: 'RolloutControl',
    id,
    group: o.group,
    prefix: o.prefix,
    release: { file: o.releaseFile, version: r.version, commit: r.commit, sha256: r.sha256 },
    waves: o.plan.waves,
    soakSeconds: o.plan.soakSeconds,
    maxFailureBasisPoints: o.plan.maxFailureBasisPoints,
    minDevices: o.plan.minDevices,
    startedAt: now,
    phase: 'running',
    reason: null,
    wave: { index: 0, startedAt: now, soakStartedAt: null },
    lastIssuedAt: 0,
    failedDevices: [],
    excused: [],
  };
}

/**
 * The rollout document first, then the release: a device that hears the release finds its group's rollout
 * already held (docs/agent.md, "Rollouts"). On a continued run each is published again only when the broker's
 * retained copy is not the one the state says was published (a run killed between the two, a broker that lost it).
 */
async function ensurePublished(x: { o: RolloutOptions; feed: FleetFeed; key: SigningKey; state: RolloutControl; retained: { rollout: string | null; release: string | null }; release: ReleaseFile }): Promise<RolloutControl> {
  let state = x.state;
  if (!(await retainedMatches(x.retained.rollout, state, x.key))) state = await publishRollout({ session: x.feed.session, state, key: x.key, statePath: x.o.statePath, now: new Date() });
  else await writeRolloutTwin(state, x.retained.rollout!);
  // Over HTTP too, the release pointer moves only once its rollout document is beside it.
  await writeReleasePointer(state, x.release.jws);
  if (x.retained.release !== x.release.jws) await announce({ broker: x.o.broker, group: x.o.group, releaseFile: x.o.releaseFile, prefix: x.o.prefix, keyPath: x.o.keyPath });
  return state;
}

/** The devices of the group the retained statuses name, with their presence. */
export function observations(fleet: FleetState, group: string): DeviceObservation[] {
  const out: DeviceObservation[] = [];
  for (const r of fleet.devices.values()) {
    if (!r.validId || r.status?.group !== group) continue;
    out.push({ id: r.id, online: r.presence === null ? null : r.presence.online, status: r.status });
  }
  return out;
}

async function follow(x: { o: RolloutOptions; feed: FleetFeed; key: SigningKey; fleet: FleetState; state: RolloutControl; continued: boolean }): Promise<RolloutResult> {
  const { o } = x;
  let state = x.state;
  for (;;) {
    const now = new Date();
    const devices = observations(x.fleet, o.group);
    // The file is the truth: `ota fleet pause|resume|abort` change it while this runs, under the same lock.
    state = await withStateLock(o.statePath, async () => {
      const current = (await loadRolloutState(o.statePath)) ?? state;
      const next = applyActions(current, decide(current, devices, now), now);
      if (next.state === current) return current;
      if (next.publish) return publishRollout({ session: x.feed.session, state: next.state, key: x.key, statePath: o.statePath, now });
      await saveRolloutState(o.statePath, next.state);
      return next.state;
    });
    const progress = progressOf(state, devices, now);
    o.onProgress?.(progress);
    const interrupted = o.signal?.aborted === true;
    if (ended(state.phase) || interrupted) return { ...progress, continued: x.continued, interrupted: interrupted && !ended(state.phase) };
    await sleep(o.roundMs ?? 500, o.signal);
  }
}

function progressOf(state: RolloutControl, devices: DeviceObservation[], now: Date): RolloutProgress {
  const soak = state.wave.soakStartedAt;
  const left = soak === null || state.phase !== 'running' ? null : Math.max(0, state.soakSeconds - Math.floor((now.getTime() - new Date(soak).getTime()) / 1000));
  return { state, wave: countWave(state, devices), devices: devices.length, soakLeftSeconds: left };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
