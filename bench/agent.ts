/**
 * bench/agent: what the agent's daemon (the relay, `ota-agent daemon`) costs a device, on x86_64,
 * connected to a real Mosquitto on 127.0.0.1 with telemetry on:
 *  - idle RSS and CPU over 60 s (VmRSS and utime + stime from /proc/<pid>), next to Debian's
 *    mender-client daemon measured the same way at the same time (the peer a user would pick);
 *  - RSS growth over an accelerated soak (bench/agent/soak.ts);
 *  - the time from `ota announce` of a one-package update to the retained status saying
 *    staged (or rebooting, with the stand-in reboot), against `ostree pull` + `ostree admin
 *    deploy` by libostree's CLI on a twin device from the same published repository and the
 *    same static delta. The update is real (bench/agent/real-update.ts): Debian minbase with
 *    tzdata bumped, built once into $BENCH_DELTA_DIR (shared with bench/delta) and reused; a cold
 *    run builds the two images first (about 75 s here with the .debs already downloaded).
 * Targets: idle RSS <= 45 MB (the mean of a sample a second: what `ps` shows at any moment),
 * idle CPU < 1%, soak growth < 2 MB, release-to-staged <= 1.2x the CLI's.
 * MB here is 1000 kB of VmRSS (bench/agent/proc.ts). BENCH_AGENT_SOAK_SECONDS sets the soak's
 * length (default 240). BENCH_AGENT_ONLY=staged runs the announce-to-staged phase alone, and
 * BENCH_AGENT_JOURNAL=1 prints the relay's journal then, each line stamped with the ms since the announce.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadSigningKey } from '../contract/index.js';
import { RELAY_NODE_FLAGS } from '../device-agent/daemon/node-flags.js';
import { ota } from '../test/helpers/cli.js';
import { GROUP } from '../test/device-agent/agent/device.js';
import { menderIdle, type MenderIdle } from './agent/mender.js';
import { cliPullDeploy } from './agent/peer.js';
import { MB, sampleWindow, windowLine, type Window } from './agent/proc.js';
import { configureMqtt, observe, quiet, startRelay, stopRelay } from './agent/relay.js';
import { soak, type SoakResult } from './agent/soak.js';
import { makeWorld, type World } from './agent/setup.js';
import { makeRealUpdate } from './agent/real-update.js';
import { workDir } from './delta/images.js';

const TARGET = { idleRssKb: 45_000, idleCpuPercent: 1, growthKb: 2_000, stagedRatio: 1.2 };
const IDLE_SECONDS = 60;
const SOAK_SECONDS = Number(process.env.BENCH_AGENT_SOAK_SECONDS ?? 240);
const REPO = join(import.meta.dirname, '..');
const DEVICE = 'gw-0001';

interface Figures {
  idle: Window;
  mender: MenderIdle;
  soak: SoakResult;
  stagedSeconds: number;
  cli: { pullSeconds: number; deploySeconds: number };
}

const mqttBase = (w: Pick<World, 'broker'>) => ({ url: w.broker.url, reconnectMinSeconds: 0.1, reconnectMaxSeconds: 0.5 });

/** The relay idle for 60 s (after its start-up workers), while mender-client idles beside it. */
async function idlePhase(w: World, flags: string[]): Promise<{ idle: Window; mender: MenderIdle }> {
  await configureMqtt(w.agent, { ...mqttBase(w), telemetryIntervalSeconds: 10 });
  const obs = await observe(w.broker.url, DEVICE);
  const relay = startRelay(w.agent, flags);
  try {
    await obs.until('the relay online with a status', (s) => s.onlines > 0 && s.lastStatus !== null, 60);
    await quiet(relay.pid, 5);
    const [idle, mender] = await Promise.all([sampleWindow(relay.pid, IDLE_SECONDS), menderIdle(IDLE_SECONDS, 5)]);
    console.log(`  relay idle (telemetry every 10 s): ${windowLine(idle)}; telemetry seen ${obs.seen.counts.get('telemetry') ?? 0}`);
    console.log(`  ${mender.version} idle: ${windowLine(mender.idle)}`);
    return { idle, mender };
  } finally {
    await stopRelay(relay);
    await obs.close();
  }
}

async function soakPhase(w: World, flags: string[]): Promise<SoakResult> {
  await configureMqtt(w.agent, { ...mqttBase(w), telemetryIntervalSeconds: 0.05 });
  const obs = await observe(w.broker.url, DEVICE);
  const relay = startRelay(w.agent, flags);
  try {
    await obs.until('the relay online with a status', (s) => s.onlines > 0 && s.lastStatus !== null, 60);
    await quiet(relay.pid, 3);
    const key = await loadSigningKey(w.fleet.publisher.keyDir);
    const r = await soak({ pid: relay.pid, observer: obs, broker: { url: w.broker.url, device: DEVICE, key }, seconds: SOAK_SECONDS });
    console.log(
      `  soak ${r.seconds.toFixed(0)} s: ${r.telemetry} telemetry, ${r.statuses} statuses, ${r.reconnects} reconnects (${r.takeovers} take-overs), ` +
        `${r.commandsCompleted}/${r.commands} report commands completed; RSS floor ${MB(r.firstFloorKb)} -> ${MB(r.lastFloorKb)}, max ${MB(r.maxKb)}, ${MB(r.settledKb)} settled`,
    );
    console.log(`    RSS floor by tenth of the soak: ${r.floorsKb.map((kb) => (kb / 1000).toFixed(1)).join(', ')} MB`);
    console.log(`    RssAnon floor by tenth (heap; the rest is code pages): ${r.anonFloorsKb.map((kb) => (kb / 1000).toFixed(1)).join(', ')} MB`);
    return r;
  } finally {
    await stopRelay(relay);
    await obs.close();
  }
}

/** Release 1.1 announced to the connected relay, timed until the retained status says staged or rebooting. */
async function stagedPhase(w: Pick<World, 'agent' | 'fleet'>, broker: Pick<World, 'broker'>, release: string, flags: string[]): Promise<number> {
  await configureMqtt(w.agent, { ...mqttBase(broker), telemetryIntervalSeconds: 60 });
  const obs = await observe(broker.broker.url, DEVICE);
  const relay = startRelay(w.agent, flags);
  let t0 = process.hrtime.bigint();
  // The relay's journal, each line stamped with the ms since the announce started (negative: before).
  if (process.env.BENCH_AGENT_JOURNAL === '1') {
    relay.onStderr((t) => {
      const ms = (Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0).padStart(6);
      for (const line of t.split('\n').filter((l) => l !== '')) process.stdout.write(`    | ${ms} ms ${line}\n`);
    });
  }
  try {
    await obs.until('the relay online with a status', (s) => s.onlines > 0 && s.lastStatus !== null, 60);
    await quiet(relay.pid, 3);
    t0 = process.hrtime.bigint();
    const a = await ota('announce', '--broker', broker.broker.url, '--group', GROUP, '--release', release, '--key', w.fleet.publisher.keyDir);
    if (a.code !== 0) throw new Error(`ota announce failed: ${a.err}`);
    // The relay was idle: the first staged or rebooting status since is this update's.
    await obs.until('status staged for 1.1', (s) => ['staged', 'rebooting'].includes(s.lastStatus?.phase ?? ''), 120).catch((e: unknown) => {
      console.log(`  last status ${JSON.stringify(obs.seen.lastStatus)}, events ${JSON.stringify([...obs.seen.eventTypes])}`);
      throw e;
    });
    return Number(process.hrtime.bigint() - t0) / 1e9;
  } finally {
    await stopRelay(relay);
    await obs.close();
  }
}

/** `BENCH_AGENT_ONLY=staged` runs the announce-to-staged phase alone (to profile it). */
const ONLY_STAGED = process.env.BENCH_AGENT_ONLY === 'staged';

async function main(): Promise<void> {
  console.log(`setting up: a publisher, two devices running 1.0, mosquitto on 127.0.0.1; images in ${workDir} (BENCH_DELTA_DIR)`);
  const w = await makeWorld();
  const real = await makeRealUpdate(w.tmp, workDir).catch(async (e: unknown) => {
    await w.close();
    throw e;
  });
  try {
    const flags = [...RELAY_NODE_FLAGS];
    console.log(`  relay: node ${process.version} ${flags.join(' ')} bin/ota-agent.js daemon; broker ${w.broker.url}`);
    const { idle, mender } = ONLY_STAGED ? { idle: undefined, mender: undefined } : await idlePhase(w, flags);
    const soaked = ONLY_STAGED ? undefined : await soakPhase(w, flags);
    const r11 = await real.publish11();
    console.log(`  release 1.1 (${real.change}) published: ${r11.commit.slice(0, 12)}, static delta from 1.0 ${(r11.deltaBytes / 1e6).toFixed(3)} MB`);
    const release = join(real.world.fleet.publisher.pub, 'releases', 'bench-agent/arm64', '1.1.jws');
    const stagedSeconds = await stagedPhase(real.world, w, release, flags);
    const cli = await cliPullDeploy(real.world.cli, real.world.fleet.server.url, r11.commit);
    console.log(`  release 1.1: announce to staged ${stagedSeconds.toFixed(2)} s; ostree pull ${cli.pullSeconds.toFixed(2)} s + admin deploy ${cli.deploySeconds.toFixed(2)} s`);
    if (idle && mender && soaked) report({ idle, mender, soak: soaked, stagedSeconds, cli });
    else console.log(`bench agent: release-to-staged / CLI = ${(stagedSeconds / (cli.pullSeconds + cli.deploySeconds)).toFixed(2)}x, target <= ${TARGET.stagedRatio}x (staged phase only)`);
  } finally {
    await real.world.close();
    await w.close();
  }
}

function report(f: Figures): void {
  const cliSeconds = f.cli.pullSeconds + f.cli.deploySeconds;
  const growth = f.soak.lastFloorKb - f.soak.firstFloorKb;
  const checks = [
    { name: 'idle RSS (mean over 60 s)', value: MB(f.idle.meanRssKb), target: `<= ${MB(TARGET.idleRssKb)}`, ok: f.idle.meanRssKb <= TARGET.idleRssKb },
    { name: 'idle CPU', value: `${f.idle.cpuPercent.toFixed(2)}%`, target: `< ${TARGET.idleCpuPercent}%`, ok: f.idle.cpuPercent < TARGET.idleCpuPercent },
    { name: 'soak RSS growth', value: MB(growth), target: `< ${MB(TARGET.growthKb)}`, ok: growth < TARGET.growthKb },
    { name: 'release-to-staged / CLI pull + deploy', value: `${(f.stagedSeconds / cliSeconds).toFixed(2)}x`, target: `<= ${TARGET.stagedRatio}x`, ok: f.stagedSeconds / cliSeconds <= TARGET.stagedRatio },
  ];
  for (const c of checks) console.log(`  ${c.name}: ${c.value}, target ${c.target} ${c.ok ? 'ok' : 'MISSED'}`);
  console.log(`  peer: ${f.mender.version} idles at ${MB(f.mender.idle.meanRssKb)} (relay/mender ${(f.idle.meanRssKb / f.mender.idle.meanRssKb).toFixed(2)}x)`);
  const ok = checks.every((c) => c.ok);
  console.log(`bench agent: idle RSS = ${MB(f.idle.meanRssKb)}, target <= ${MB(TARGET.idleRssKb)} ${ok ? 'ok' : 'short'}`);
}

if (!existsSync(join(REPO, 'dist/device-agent/daemon/main.js'))) {
  console.log('bench agent: the relay is not built (dist/device-agent/daemon/main.js): run `npm run bench:agent`, which builds first');
  process.exitCode = 1;
} else {
  await main();
}
