/**
 * bench/node-ostree: import 200 real .deb data members as commits and union them, through the
 * binding versus one `ostree` CLI process per step, in the same run, on equal terms: both write
 * bare-user repositories on the same disk with ostree's default fsync (the binding syncs once per
 * batch of commits, which the CLI cannot do; both sync before their refs are written), both start
 * from the .deb files (the CLI needs each data member extracted to a file first; that extraction
 * is not counted against it). Target: the binding at least 3x faster.
 *
 * The 200 .debs are real Debian packages: locked from the build host's apt sources (amd64) and
 * downloaded once into the cache ($OTA_CACHE_DIR/bench-debs), SHA256-checked against the lock.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../common/exec.js';
import { fetchBytes } from '../common/http.js';
import { defaultCacheDir } from '../host-tools/apt/index-cache.js';
import { lock } from '../host-tools/lock/lock.js';
import { Repo, batch, commitTar, commitUnion, readDeb } from '../node-ostree/index.js';

const COUNT = Number(process.env.BENCH_DEBS ?? 200);
const JOBS = 2;
const work = await mkdtemp(join(tmpdir(), 'ota-bench-ostree-'));
const cache = join(defaultCacheDir(), 'bench-debs');
await mkdir(cache, { recursive: true });

// 1. Real debs: a manifest big enough to reach COUNT packages.
const manifest = join(work, 'image.yaml');
await writeFile(manifest, 'name: bench\narch: amd64\nsources:\n  - uri: host\nvariant: minbase\npackages: [systemd-sysv, openssh-server, python3, perl, curl, git, nginx, rsyslog, cron, iproute2, sudo, less, vim-tiny, man-db, network-manager]\n');
const locked = await lock({ manifestPath: manifest, update: true });
const stanzas = [...locked.text.matchAll(/^Package: (\S+)\n[\s\S]*?^Filename: (\S+)\nSize: (\d+)\nSHA256: (\S+)\nOrigin-Uri: (\S+)/gm)].map((m) => ({ name: m[1]!, filename: m[2]!, size: Number(m[3]), sha256: m[4]!, uri: m[5]! }));
if (stanzas.length < COUNT) throw new Error(`the bench manifest locks only ${stanzas.length} packages, need ${COUNT}`);
const debs = stanzas.slice(0, COUNT);
let downloaded = 0;
for (let i = 0; i < debs.length; i += 8) {
  await Promise.all(
    debs.slice(i, i + 8).map(async (d) => {
      const path = join(cache, `${d.sha256}.deb`);
      if (existsSync(path)) return;
      const body = await fetchBytes(`${d.uri}/${d.filename}`);
      if (createHash('sha256').update(body).digest('hex') !== d.sha256) throw new Error(`${d.filename}: SHA256 mismatch`);
      await writeFile(path, body);
      downloaded += body.length;
    }),
  );
}
const totalMb = debs.reduce((s, d) => s + d.size, 0) / 1e6;
console.log(`${debs.length} debs, ${totalMb.toFixed(1)} MB (${(downloaded / 1e6).toFixed(1)} MB downloaded now)`);

// Data members extracted to files for the CLI, outside its timing.
const members: string[] = [];
for (const d of debs) {
  const deb = readDeb(await readFile(join(cache, `${d.sha256}.deb`)), d.filename);
  const f = join(work, 'members', `${d.sha256}.${deb.data.name}`);
  await mkdir(join(work, 'members'), { recursive: true });
  await writeFile(f, deb.data.bytes);
  members.push(f);
}
const zstd = debs.filter((_, i) => members[i]!.endsWith('.zst')).length;
if (zstd > 0) throw new Error(`${zstd} debs have zstd data members, which the ostree CLI cannot import; use a Debian archive`);

const ref = (i: number) => `deb/${i}`;
const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

// 2. The ostree CLI: one process per import, one for the union.
const cliRepo = join(work, 'cli-repo');
await run('ostree init', ['ostree', 'init', `--repo=${cliRepo}`, '--mode=bare-user']);
let t0 = process.hrtime.bigint();
for (const [i, f] of members.entries()) {
  await run('ostree commit', ['ostree', `--repo=${cliRepo}`, 'commit', `--branch=${ref(i)}`, `--tree=tar=${f}`, '--tar-autocreate-parents', '--timestamp=1970-01-01T00:00:00Z', '--no-bindings']);
}
const cliImport = seconds(t0);
t0 = process.hrtime.bigint();
await run('ostree commit (union)', ['ostree', `--repo=${cliRepo}`, 'commit', '--branch=union', ...members.map((_, i) => `--tree=ref=${ref(i)}`), '--timestamp=1970-01-01T00:00:00Z', '--no-bindings']);
const cliUnion = seconds(t0);

// 3. The binding: read each .deb, import its data member from memory, JOBS at a time; then the union.
const repo = await Repo.create(join(work, 'binding-repo'), 'bare-user');
t0 = process.hrtime.bigint();
let next = 0;
await Promise.all(
  Array.from({ length: JOBS }, async () => {
    // One repository object per job: a libostree repo object holds one transaction at a time,
    // while several objects on the same repository commit concurrently.
    // Each job's imports share one transaction (batch): objects are synced once at its end, not per commit.
    const own = await Repo.open(repo.path);
    await batch(own, async () => {
      while (next < debs.length) {
        const i = next++;
        const d = debs[i]!;
        const deb = readDeb(await readFile(join(cache, `${d.sha256}.deb`)), d.filename);
        await commitTar(own, deb.data.bytes, { ref: ref(i), autocreateParents: true, source: d.filename });
      }
    });
    own.close();
  }),
);
const binImport = seconds(t0);
t0 = process.hrtime.bigint();
const union = await commitUnion(repo, debs.map((_, i) => ref(i)), { ref: 'union' });
const binUnion = seconds(t0);

// Same trees: the binding's union equals the CLI's.
const cliTree = (await run('ls', ['ostree', `--repo=${cliRepo}`, 'ls', '-R', '-C', 'union'])).stdout;
const binTree = (await run('ls', ['ostree', `--repo=${repo.path}`, 'ls', '-R', '-C', 'union'])).stdout;
const same = cliTree === binTree;
repo.close();

const cli = cliImport + cliUnion;
const bin = binImport + binUnion;
console.log(`ostree CLI: import ${cliImport.toFixed(2)} s + union ${cliUnion.toFixed(2)} s = ${cli.toFixed(2)} s`);
console.log(`binding:    import ${binImport.toFixed(2)} s + union ${binUnion.toFixed(2)} s = ${bin.toFixed(2)} s (${JOBS} imports at a time; ${union.conflicts.length} overlapping paths reported)`);
console.log(`union trees identical: ${same}`);
if (!same) {
  await writeFile(join(tmpdir(), 'bench-cli-tree.txt'), cliTree);
  await writeFile(join(tmpdir(), 'bench-bin-tree.txt'), binTree);
}
await rm(work, { recursive: true, force: true });
const ratio = cli / bin;
console.log(`bench node-ostree: CLI/binding time ratio = ${ratio.toFixed(2)}x (binding ${bin.toFixed(2)} s, CLI ${cli.toFixed(2)} s), target >= 3x ${ratio >= 3 && same ? 'ok' : 'short'}`);
