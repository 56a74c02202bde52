/**
 * bench/fleet (docs/fleet.md, "bench/fleet"): how long a release takes to reach a whole fleet,
 * from the operator's command to every device committed after its health checks, and how many
 * messages the broker carries for it, at 1,000 and 10,000 devices. The devices are simulated in
 * this process (bench/fleet/sim-device.ts: the agent's own MQTT session, pre-check, publisher,
 * trust checks, rollout gate and engine, one MQTT connection each) over a RECORDED STAND-IN of the
 * deploy step (bench/fleet/stand-in.ts), against a real Mosquitto on 127.0.0.1. The release goes
 * out by `ota fleet rollout --waves 1%,10%,100% --soak 0` (the built CLI, its own process) when it
 * is built, else by one retained announcement (the output says which); then `ota fleet rollback
 * --group` takes every device back, and the bench times its confirmations too.
 *
 * BENCH_FLEET_SIZES=1000,10000 (default), BENCH_FLEET_DRIVER=rollout|announce.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { start } from '../common/exec.js';
import { topics } from '../contract/topics.js';
import { connectBroker } from '../host-tools/mqtt/client.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { makeReleases, startFleet, type Releases } from './fleet/setup.js';
import { watchFleet } from './fleet/watch.js';

const REPO = join(import.meta.dirname, '..');
const GROUP = 'bench';
const PREFIX = 'ota';
const SIZES = (process.env.BENCH_FLEET_SIZES ?? '1000,10000').split(',').map(Number);
const HAS_ROLLOUT = existsSync(join(REPO, 'dist/host-tools/cli/commands/fleet-rollout.js'));
const DRIVER = process.env.BENCH_FLEET_DRIVER ?? (HAS_ROLLOUT ? 'rollout' : 'announce');
const TARGET_1K_SECONDS = 30;

interface Run {
  n: number;
  seconds: number;
  messages: number;
  byLeaf: Record<string, number>;
  sysReceived: number;
  sysSent: number;
  connectSeconds: number;
  rssMb: number;
  fds: number;
  rollbackSeconds: number;
  rollbackMessages: number;
}

/** `ota fleet rollback --group` (the built CLI, its own process) to every device confirmed back on 1.0. */
async function groupRollback(url: string, r: Releases): Promise<number> {
  const argv = [process.execPath, join(REPO, 'bin/ota.js'), 'fleet', 'rollback', '--broker', url, '--group', GROUP, '--key', r.keyDir, '--timeout', '10m', '--json'];
  const t0 = Date.now();
  const e = await start('ota fleet rollback', argv, { cwd: REPO }).exited;
  if (e.code !== 0) throw new Error(`ota fleet rollback exited ${e.code}: ${e.stderr.slice(-2000)}`);
  const doc = JSON.parse(e.stdout) as { counts: { confirmed: number; devices: number } };
  if (doc.counts.confirmed !== doc.counts.devices) throw new Error(`ota fleet rollback: ${doc.counts.confirmed} of ${doc.counts.devices} confirmed`);
  return (Date.now() - t0) / 1000;
}

/** This process's open files and its limit: one MQTT connection per device costs one each. */
async function fileDescriptors(): Promise<{ open: number; limit: string }> {
  const open = (await readdir('/proc/self/fd')).length;
  const limits = await readFile('/proc/self/limits', 'utf8');
  return { open, limit: /^Max open files\s+(\S+)/m.exec(limits)?.[1] ?? '?' };
}

async function drive(url: string, r: Releases, dir: string): Promise<() => Promise<void>> {
  if (DRIVER === 'rollout') {
    const argv = [process.execPath, join(REPO, 'bin/ota.js'), 'fleet', 'rollout', '--broker', url, '--group', GROUP, '--release', r.file, '--key', r.keyDir, '--waves', '1%,10%,100%', '--soak', '0', '--state', join(dir, 'rollout-state.json')];
    const t0 = Date.now();
    const child = start('ota fleet rollout', argv, { cwd: REPO, env: { ...process.env, CI: '1' } });
    // When each wave began, from the controller's own progress lines (stderr, one per change).
    const waves = new Map<string, number>();
    child.onStderr((text) => {
      for (const m of text.matchAll(/wave (\d+)\/\d+/g)) if (!waves.has(m[1]!)) waves.set(m[1]!, (Date.now() - t0) / 1000);
    });
    return async () => {
      const e = await child.exited;
      if (e.code !== 0) throw new Error(`ota fleet rollout exited ${e.code}: ${e.stderr.slice(-2000)}`);
      console.log(`  the controller: ${[...waves].map(([w, t]) => `wave ${w} seen at ${t.toFixed(1)} s`).join(', ')}; it exited at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    };
  }
  const s = await connectBroker({ url });
  await s.publish(topics(PREFIX).groupRelease(GROUP), r.jws, { qos: 1, retain: true });
  await s.close();
  return () => Promise.resolve();
}

async function one(n: number): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-fleet-'));
  const broker = await startMosquitto({ extraConfig: ['max_queued_messages 0', 'sys_interval 1', 'max_connections -1'] });
  try {
    const r = await makeReleases(dir);
    const watch = await watchFleet(broker.url, PREFIX);
    const fleet = await startFleet({ n, group: GROUP, url: broker.url, prefix: PREFIX, r });
    const idle = (s: { phase: string; deployments: { booted: { commit: string } | null } }) => s.phase === 'idle' && s.deployments.booted?.commit === r.from.commit;
    await watch.until(n, idle, `${n} devices idle on 1.0`, 120_000);
    const fd = await fileDescriptors();
    console.log(`  ${n} devices connected in ${fleet.connectSeconds.toFixed(1)} s, each its own MQTT connection (no multiplexing: ${fd.open} open files in this process, limit ${fd.limit}; Mosquitto inherits the limit); all idle on 1.0`);
    await new Promise((res) => setTimeout(res, 1500));
    watch.reset();
    const sys0 = watch.sys();
    const t0 = Date.now();
    const ended = await drive(broker.url, r, dir);
    const committed = (s: { phase: string; deployments: { booted: { commit: string } | null } }) => (s.phase === 'idle' || s.phase === 'committed') && s.deployments.booted?.commit === r.to.commit;
    await watch.until(n, committed, `${n} devices committed on 1.1`, 600_000);
    const seconds = (Date.now() - t0) / 1000;
    await ended();
    await new Promise((res) => setTimeout(res, 1500));
    const sys1 = watch.sys();
    const rssMb = process.memoryUsage().rss / 1e6;
    const figures = { messages: watch.messages(), byLeaf: watch.byLeaf() };
    watch.reset();
    const rollbackSeconds = await groupRollback(broker.url, r);
    // Counted once the broker delivered every device's last status: the subscriber shares the CPU with the fleet.
    await watch.until(n, idle, `${n} devices idle on 1.0 again`, 120_000);
    await new Promise((res) => setTimeout(res, 1500));
    const rollbackLeaves = watch.byLeaf();
    const run = { n, seconds, ...figures, sysReceived: sys1.received - sys0.received, sysSent: sys1.sent - sys0.sent, connectSeconds: fleet.connectSeconds, rssMb, fds: fd.open, rollbackSeconds, rollbackMessages: watch.messages() };
    console.log(`  ${n} devices: ${DRIVER} to all committed in ${seconds.toFixed(1)} s; ${run.messages} messages under ${PREFIX}/ at a subscriber (${Object.entries(run.byLeaf).map(([k, v]) => `${k} ${v}`).join(', ')}); Mosquitto $SYS: ${run.sysReceived} received, ${run.sysSent} sent; recorded stand-in calls (the release and the rollback after it): ${[...fleet.recorded].map(([k, v]) => `${k} ${v}`).join(', ')}; bench RSS ${rssMb.toFixed(0)} MB, load ${loadavg()[0]!.toFixed(1)}`);
    console.log(`  ${n} devices: \`ota fleet rollback --group\` (one signed publish) to every device confirmed back on 1.0 in ${rollbackSeconds.toFixed(1)} s (the command's own process, from its start: connect, retained statuses, publish, confirmations); ${run.rollbackMessages} messages (${Object.entries(rollbackLeaves).map(([k, v]) => `${k} ${v}`).join(', ')})`);
    await fleet.stop();
    await watch.close();
    return run;
  } finally {
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(`bench fleet: driver ${DRIVER === 'rollout' ? '`ota fleet rollout --waves 1%,10%,100% --soak 0`' : 'one retained announcement (ota fleet rollout is not built here)'}; deploy step: a recorded stand-in`);
const runs: Run[] = [];
for (const n of SIZES) runs.push(await one(n));
const small = runs.find((x) => x.n === 1000);
const large = runs.find((x) => x.n === 10_000);
const ok = small !== undefined && small.seconds < TARGET_1K_SECONDS && (large === undefined || large.seconds < 10 * small.seconds);
const figures = runs.map((x) => `${x.n} devices ${x.seconds.toFixed(1)} s, ${x.messages} messages`).join('; ');
console.log(`bench fleet: release to all committed = ${figures}, target < ${TARGET_1K_SECONDS} s at 1000 and the 10000 run under 10x ${ok ? 'ok' : 'short'}`);
