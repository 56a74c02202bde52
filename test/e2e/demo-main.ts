/**
 * `scripts/demo [--work DIR]`: the whole story on embedded defaults, printing each stage with its
 * time. The example gateway image with the agent's .deb is locked, built for the qemu-arm64 board,
 * published as 1.0 and imaged, provisioned; the board boots under qemu-system-aarch64 with its
 * own U-Boot and reaches `ota serve` on 127.0.0.1 only through guestfwd rules (update-device.ts,
 * the update proof's code); 1.1, one package added, is built meanwhile, published with a
 * static delta and announced, and `ota fleet events --follow` shows the device apply it until it
 * reports committed on 1.1. Then the bytes it downloaded against the whole commit, the published
 * history, a verify and an offline bundle, and a one-line summary. qemu and `ota serve` are shut
 * down on success, on failure and on Ctrl-C. The pure parts are in demo-story.ts.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { start } from '../../common/exec.js';
import type { ReleaseManifest, Status } from '../../contract/index.js';
import { observe, type Observer } from '../device-agent/daemon/observer.js';
import { startOtaServe, type OtaServe } from '../helpers/ota-serve.js';
import { E2e, type BuiltImage } from './boot-e2e.js';
import { ADDED_IN_1_1, buildLocalDeb, demoManifest, downloadLine, lockHighlights, netDebPlan, StageClock } from './demo-story.js';
import { agentDeb, makeDeviceDisk, ota } from './update-build.js';
import { GUEST_BROKER, GUEST_REMOTE, httpBytesToGuest, PoweredDevice } from './update-device.js';

const REPO = join(import.meta.dirname, '../..');
const OTA_CLI = join(REPO, 'test/helpers/ota-cli.ts');
const BOARD = 'qemu-arm64';
const DEVICE = 'demo-gw-1';
const GROUP = 'lab';
/** Long enough for a boot or an update under TCG on two busy cores; only a failing run waits this long. */
const WAIT_MS = 25 * 60_000;

interface Demo {
  e2e: E2e;
  clock: StageClock;
  out: string;
  /** Run last to first at the end, on failure and on Ctrl-C (each once). */
  cleanups: (() => Promise<unknown>)[];
  /** Set by SIGINT or SIGTERM, whose handler reports and exits: the failures they cause are not reported again. */
  interrupted?: NodeJS.Signals;
}

const log = (line: string) => console.log(line);

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({ options: { work: { type: 'string' } } });
  } catch (e) {
    console.error(`demo: ${(e as Error).message}\nusage: scripts/demo [--work DIR]   (or OTA_DEMO_DIR=DIR)`);
    return 2;
  }
  const given = args.values.work ?? process.env.OTA_DEMO_DIR;
  const out = given ? resolve(given) : await mkdtemp(join(tmpdir(), 'ota-demo-'));
  const clock = new StageClock(log);
  const d: Demo = { e2e: await E2e.create({ board: BOARD, work: out, log }), clock, out, cleanups: [] };
  log(`demo: the whole story on ${BOARD}, work dir ${out}, started ${new Date().toISOString()}`);
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      d.interrupted = signal;
      log(`\ndemo: ${signal}: stopping qemu and ota serve`);
      void cleanUp(d).then(() => {
        log(clock.summary(`interrupted (work dir ${out})`));
        process.exit(code);
      });
    });
  }
  try {
    await story(d);
    await cleanUp(d);
    log('');
    log(clock.summary(`done (work dir ${out})`));
    return 0;
  } catch (e) {
    if (d.interrupted) return new Promise<number>(() => {}); // the signal's handler reports and exits
    const err = e as Error & { details?: string[]; hint?: string };
    console.error(`demo: FAILED: ${err.message}`);
    for (const line of err.details ?? []) console.error(`  ${line}`);
    if (err.hint) console.error(`  hint: ${err.hint}`);
    await cleanUp(d);
    log(clock.summary(`FAILED (work dir ${out}, console logs boot-*.console.log)`));
    return 1;
  }
}

async function cleanUp(d: Demo): Promise<void> {
  for (let f = d.cleanups.pop(); f; f = d.cleanups.pop()) await f().catch((e: unknown) => log(`  (shutting down: ${(e as Error).message})`));
}

async function story(d: Demo): Promise<void> {
  const { e2e, clock, out } = d;
  const agent = await clock.stage('agent', 'ota-agent for arm64 and its .deb (npm run build:agent, build:agent-deb when out/agent has none)', () => agentDeb(e2e, 'arm64'));
  log(`  ${agent}`);
  const manifests = await clock.stage('lock', 'ota lock of the example gateway image, with the agent and a network package as local debs', () => lock(d, agent));
  const a = await clock.stage('build 1.0', `ota build ${manifests.a} for the ${BOARD} board (arm64 through qemu-user)`, () => e2e.buildReference(manifests.a));
  log(`  1.0 = ${a.ref} ${a.checksum} (${a.packages} packages, kernel ${a.kernel})`);
  // 1.1 is built while 1.0 is published, imaged and booted: each takes minutes, and the build needs none of them
  log(`  1.1 (${ADDED_IN_1_1} added) is now locked and built beside the next stages; its lines are marked build 1.1|`);
  const b0 = Date.now();
  const built = buildUpdate(d, manifests.b).then((b) => ({ b, seconds: (Date.now() - b0) / 1000 }));
  built.catch(() => {});
  const keys = join(out, 'keys');
  const published = join(out, 'published');
  const publish = (version: string, commit: string) => ota(e2e, ['publish', '--repo', e2e.repoPath, '--to', published, '--ref', a.ref, '--commit', commit, '--version', version, '--key', keys, '--group', GROUP]);
  await clock.stage('publish 1.0', 'ota keys generate (the release key), ota publish 1.0 (signed commit, summary, release manifest)', async () => {
    // a second run in the same work dir keeps its key and its builds, and publishes afresh (versions are never published twice)
    if (!existsSync(join(keys, 'release.pub.jwks'))) await ota(e2e, ['keys', 'generate', keys]);
    await rm(published, { recursive: true, force: true });
    await publish('1.0', a.checksum);
  });
  const host = { deviceId: DEVICE, group: GROUP, keys, published, ref: a.ref };
  const disk = await clock.stage('image', 'ota image of the published 1.0, provisioned for the board', async () => {
    log(`  device id ${DEVICE}, group ${GROUP}, broker ${GUEST_BROKER}, remote ${GUEST_REMOTE}, trusted keys ${keys}/release.pub.jwks`);
    return makeDeviceDisk(e2e, host);
  });
  log(`  ${disk.output}: ${Math.round(disk.plan.totalBytes / 2 ** 20)} MiB (sparse), kernel arguments ${disk.kargs.join(' ')}`);
  const firmware = await e2e.firmware(a.ref);
  const serve = await startOtaServe(published);
  d.cleanups.push(() => serve.stop());
  const obs = await observe(serve.mqttUrl!, DEVICE, { giveUpMs: WAIT_MS, clientId: `ota-demo-${process.pid}` });
  d.cleanups.push(() => obs.close());
  const ports = { http: Number(new URL(serve.httpUrl).port), mqtt: Number(new URL(serve.mqttUrl!).port) };
  // one boot may last the whole story (the board stays up while 1.1 builds): the waits on its status catch a hung one
  const device = new PoweredDevice(e2e, disk, { firmware, ports, countsDir: out, bootTimeoutMs: 4 * 60 * 60_000 });
  d.cleanups.push(() => device.stop());
  const waitStatus = (what: string, pred: (s: Status) => boolean, from = 0) => device.race(obs.waitFor('status', pred, what, from));

  await clock.stage('boot', `qemu-system-aarch64 with the board's U-Boot; ota serve at ${serve.httpUrl}, ${serve.mqttUrl}; the guest reaches them only at 10.0.2.100:8080 and :1883 (restrict=on)`, async () => {
    device.start();
    await waitStatus('idle on 1.0', (s) => s.phase === 'idle' && s.deployments.booted?.version === '1.0');
    await ota(e2e, ['fleet', 'status', '--broker', serve.mqttUrl!]);
  });
  const { b, seconds } = await clock.stage('build 1.1', 'ota build of 1.1, started after the build of 1.0: what is left of it', () => built);
  log(`  1.1 = ${b.checksum} (built in ${seconds.toFixed(0)} s in all)`);
  const release = await clock.stage('publish 1.1', 'ota publish 1.1 with a static delta from 1.0', async () => {
    await publish('1.1', b.checksum);
    return releaseOf(published, a.ref, '1.1');
  });
  log(`  changes: ${JSON.stringify(release.changes.added)} added, ${release.changes.changed.length} changed, ${release.changes.removed.length} removed`);
  await clock.stage('update', 'ota announce 1.1 to the group; ota fleet events --follow until the device reports committed on 1.1', () => watchUpdate(d, { serve, obs, device, release }));
  await clock.stage('verify', 'ota log, ota verify, ota bundle: the published history, checked with the key, and 1.0 -> 1.1 in one file', () => releaseChecks(d, a.ref));
}

/** The local debs beside the manifests, the manifests of 1.0 and 1.1, `ota lock` of 1.0 and what it locked. */
async function lock(d: Demo, agent: string): Promise<{ a: string; b: string }> {
  const debs = join(d.out, 'debs');
  await mkdir(debs, { recursive: true });
  await copyFile(agent, join(debs, basename(agent)));
  const net = await buildLocalDeb(netDebPlan(), debs);
  const local = [agent, net].map((f) => `debs/${basename(f)}`);
  const example = await readFile(join(REPO, 'examples/gateway/image.yaml'), 'utf8');
  const a = join(d.out, 'image.yaml');
  const b = join(d.out, 'image-1.1.yaml');
  await writeFile(a, demoManifest(example, local));
  await writeFile(b, demoManifest(example, local, [ADDED_IN_1_1]));
  log(`  ${a}:`);
  for (const line of (await readFile(a, 'utf8')).trimEnd().split('\n')) log(`  | ${line}`);
  await ota(d.e2e, ['lock', a]);
  const h = lockHighlights(await readFile(a.replace(/\.yaml$/, '.lock'), 'utf8'));
  log('  the lock header:');
  for (const line of h.header) log(`  | ${line}`);
  log(`  ${h.packages} packages locked; the local debs, pinned by their bytes:`);
  for (const p of h.local) log(`    ${p.name} ${p.version} sha256 ${p.sha256.slice(0, 16)}...`);
  await ota(d.e2e, ['lock', '--explain', 'libssl3', a]);
  return { a, b };
}

/** `ota lock` and `ota build` of 1.1, its lines marked (an E2e of its own on the same work dir and repository). */
async function buildUpdate(d: Demo, manifest: string): Promise<BuiltImage> {
  const e2e = await E2e.create({ board: BOARD, work: d.out, log: (l) => log(`  build 1.1| ${l.trim()}`) });
  await ota(e2e, ['lock', manifest]);
  return e2e.buildReference(manifest);
}

async function releaseOf(published: string, ref: string, version: string): Promise<ReleaseManifest> {
  const jws = (await readFile(join(published, 'releases', ref, `${version}.jws`), 'utf8')).trim();
  return JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as ReleaseManifest;
}

/** The announce, the device's events as `ota fleet events --follow` prints them, the fleet's status and the bytes. */
async function watchUpdate(d: Demo, w: { serve: OtaServe; obs: Observer; device: PoweredDevice; release: ReleaseManifest }): Promise<void> {
  const { e2e, out } = d;
  const broker = w.serve.mqttUrl!;
  const follow = start('ota fleet events --follow', [process.execPath, '--import', 'tsx', OTA_CLI, 'fleet', 'events', DEVICE, '--follow', '--broker', broker], { env: { ...process.env, CI: '1' } });
  let partial = '';
  follow.onStdout((t) => {
    const lines = (partial + t).split('\n');
    partial = lines.pop()!;
    for (const l of lines) log(`  fleet events| ${l}`);
  });
  const stop = async () => {
    follow.kill('SIGINT');
    // it ends on Ctrl-C; one that does not within 10 s is killed rather than waited for
    const timer = setTimeout(() => follow.kill('SIGKILL'), 10_000);
    await follow.exited;
    clearTimeout(timer);
  };
  d.cleanups.push(stop);
  const from = w.obs.seen.status.length;
  const bytesBefore = await httpBytesToGuest(out);
  await ota(e2e, ['announce', '--broker', broker, '--group', GROUP, '--release', join(d.out, 'published/releases', w.release.ref, '1.1.jws'), '--key', join(out, 'keys')]);
  const wait = (what: string, pred: (s: Status) => boolean) => w.device.race(w.obs.waitFor('status', pred, what, from));
  await wait('committed on 1.1', (s) => s.updateId === '1.1' && s.phase === 'committed');
  await wait('idle on 1.1', (s) => s.phase === 'idle' && s.deployments.booted?.version === '1.1');
  // the follower prints what the broker sends; one round trip through the broker lets it catch up
  await ota(e2e, ['fleet', 'status', '--broker', broker]);
  d.cleanups.splice(d.cleanups.indexOf(stop), 1);
  await stop();
  const reported = Math.max(0, ...w.obs.seen.status.filter((s) => s.updateId === '1.1' && s.progress).map((s) => s.progress!.doneBytes));
  log(`  ${downloadLine(w.release, '1.0', { wire: (await httpBytesToGuest(out)) - bytesBefore, reported })}`);
}

async function releaseChecks(d: Demo, ref: string): Promise<void> {
  const published = join(d.out, 'published');
  const key = join(d.out, 'keys/release.pub.jwks');
  await ota(d.e2e, ['log', '--to', published, ref]);
  await ota(d.e2e, ['verify', published, '--key', key]);
  await ota(d.e2e, ['bundle', '--to', published, '--version', '1.1', '--from', '1.0', '-o', join(d.out, 'update-1.1.otab')]);
  await ota(d.e2e, ['verify', join(d.out, 'update-1.1.otab'), '--key', key]);
}

process.exitCode = await main();
