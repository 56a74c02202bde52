/**
 * bench/fleet's world: a release key made as `ota keys generate` makes it, two signed releases
 * (1.0 that every simulated device runs, 1.1 the rollout carries; synthetic manifests: the deploy
 * step is a stand-in, so no commit is pulled), Mosquitto on 127.0.0.1 with no queue limit, and the
 * simulated devices connected a batch at a time.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { API_VERSION, loadSigningKey, loadTrustedKeys, signDocument, type ReleaseManifest, type TrustedKeys } from '../../contract/index.js';
import { generateKeys } from '../../host-tools/keys/generate.js';
import { SimDevice } from './sim-device.js';
import { REF, type Deployed } from './stand-in.js';

export interface Releases {
  keyDir: string;
  trusted: TrustedKeys;
  from: Deployed;
  to: Deployed;
  /** The signed 1.1, and the file it is written to (what `ota fleet rollout --release` takes). */
  jws: string;
  file: string;
}

export async function makeReleases(dir: string): Promise<Releases> {
  const keyDir = join(dir, 'keys');
  await generateKeys(keyDir);
  const key = await loadSigningKey(keyDir);
  const from = { commit: randomBytes(32).toString('hex'), version: '1.0' };
  const to = { commit: randomBytes(32).toString('hex'), version: '1.1' };
  const manifest: ReleaseManifest = {
    apiVersion: API_VERSION,
    kind: 'Release',
    ref: REF,
    version: to.version,
    commit: to.commit,
    subject: 'bench/fleet: a synthetic release (the deploy step is a stand-in)',
    board: null,
    arch: 'amd64',
    minVersion: null,
    group: 'bench',
    publishedAt: new Date().toISOString(),
    deltas: [],
    fullPullBytes: 0,
    unpackedBytes: 0,
    packages: [],
    changes: { previousVersion: from.version, added: [], removed: [], changed: [] },
  };
  const jws = await signDocument('release', manifest, key);
  const file = join(dir, `${to.version}.jws`);
  await writeFile(file, `${jws}\n`);
  return { keyDir, trusted: await loadTrustedKeys(keyDir), from, to, jws, file };
}

export interface Fleet {
  devices: SimDevice[];
  recorded: Map<string, number>;
  connectSeconds: number;
  stop: () => Promise<void>;
}

/** N devices of group `group`, running `from`, connected `batch` at a time. */
export async function startFleet(o: { n: number; group: string; url: string; prefix: string; r: Releases; batch?: number }): Promise<Fleet> {
  const recorded = new Map<string, number>();
  const devices = Array.from({ length: o.n }, (_, i) => new SimDevice({ id: `sim-${String(i).padStart(5, '0')}`, group: o.group, prefix: o.prefix, url: o.url, trusted: o.r.trusted, running: o.r.from, previous: null, recorded }));
  const started = Date.now();
  const batch = o.batch ?? 200;
  for (let i = 0; i < devices.length; i += batch) await Promise.all(devices.slice(i, i + batch).map((d) => d.start()));
  const connectSeconds = (Date.now() - started) / 1000;
  return {
    devices,
    recorded,
    connectSeconds,
    stop: async () => {
      for (let i = 0; i < devices.length; i += batch) await Promise.all(devices.slice(i, i + batch).map((d) => d.stop()));
    },
  };
}
