/**
 * bench/lock: time to lock `systemd-sysv openssh-server nginx` (minbase) for arm64 from cached
 * indices, against apt's own `apt-get install -s` for the same roots in a throw-away apt root
 * with its package cache warm, in the same run. Both are whole processes, timed the same way;
 * each side runs once to warm up, then RUNS times, and the medians are compared.
 * Target: ota faster than apt (ratio below 1.0) and under 2 s.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../common/exec.js';
import { lock } from '../host-tools/lock/lock.js';
import { aptSimulate, aptUpdate, makeAptRoot, suitesOfLock } from '../test/helpers/apt-root.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const dir = await mkdtemp(join(tmpdir(), 'ota-bench-lock-'));
const manifest = join(dir, 'image.yaml');
await writeFile(manifest, 'name: bench\narch: arm64\nsources:\n  - uri: host\nvariant: minbase\npackages: [systemd-sysv, openssh-server, nginx]\n');
const cacheDir = process.env.OTA_CACHE_DIR ?? join(tmpdir(), 'ota-bench-index-cache');
const env = { ...process.env, OTA_CACHE_DIR: cacheDir };

// Fill both caches (network), outside the timing.
console.log('preparing: filling the index cache and the apt root');
const first = await lock({ manifestPath: manifest, cacheDir, update: true });
const roots = first.resolution!.roots;
const used = suitesOfLock(first.text);
const apt = await makeAptRoot(join(dir, 'apt'), 'arm64', { suites: used });
await aptUpdate(apt);
const aptSet = await aptSimulate(apt, roots); // builds apt's pkgcache.bin

const time = async (argv: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<number> => {
  const t0 = process.hrtime.bigint();
  await run('bench', argv, opts);
  return Number(process.hrtime.bigint() - t0) / 1e9;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const otaArgv = [process.execPath, join(import.meta.dirname, '..', 'bin', 'ota.js'), 'lock', '--update', '--offline', '--quiet', manifest];
const aptArgv = [...apt.argv, 'install', '-s', '-q', '--no-install-recommends', ...roots];
await time(otaArgv, { env });
await time(aptArgv);
const otaTimes: number[] = [];
const aptTimes: number[] = [];
for (let i = 0; i < RUNS; i++) {
  otaTimes.push(await time(otaArgv, { env }));
  aptTimes.push(await time(aptArgv));
  console.log(`run ${i + 1}/${RUNS}: ota lock ${otaTimes[i]!.toFixed(3)} s, apt-get -s ${aptTimes[i]!.toFixed(3)} s`);
}
const ota = median(otaTimes);
const aptT = median(aptTimes);
const ratio = ota / aptT;
console.log(`packages: ota ${first.packages}, apt ${aptSet.size}; roots ${roots.length}`);
const ok = ratio < 1.0 && ota < 2;
console.log(`bench lock: ota/apt time ratio = ${ratio.toFixed(2)} (ota ${ota.toFixed(2)} s, apt ${aptT.toFixed(2)} s), target < 1.0 and ota < 2 s ${ok ? 'ok' : 'short'}`);
