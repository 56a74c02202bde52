import type { Command } from 'commander';
import { printJson } from '../../../common/cli-json.js';
import { OtaError } from '../../../common/errors.js';
import type { FleetRollbackResult } from '../../fleet/rollback.js';
import type { DeviceTrack } from '../../fleet/rollback-track.js';
import { abortRollout, pauseRollout, resumeRollout, type ControlOptions, type ControlResult } from '../../fleet/rollout-control.js';
import { runRollout, type RolloutProgress, type RolloutResult } from '../../fleet/rollout-run.js';
import { defaultStatePath, parseDuration, parseMinDevices, parseRate, parseWaves, type RolloutControl } from '../../fleet/rollout-state.js';
import { cleanText } from '../../fleet/sanitize.js';
import type { CliIo } from '../io.js';
import { addBrokerOptions, brokerOptions, parseId, type BrokerFlags } from './fleet-broker.js';
import { untilInterrupted } from './fleet-watch.js';

/**
 * `ota fleet rollout` and `ota fleet pause|resume|abort` (docs/fleet.md, "ota fleet rollout"): thin shells over
 * host-tools/fleet's runRollout and its control functions. Progress goes to stderr (redrawn in place on a
 * terminal, a line per change otherwise), the result to stdout, a halt is exit code 1 naming the failed devices.
 *
 * @example
 * // $ ota fleet rollout --group canary --release PUBLISHED/releases/os/1.2.jws --key keys/ --broker mqtt://127.0.0.1:1883
 * // rollout r-mixb7c-4f2a1c of 1.2 to canary: completed, 4 waves, 10 of 10 devices on 1.2, 0 failed
 */
interface RolloutFlags extends BrokerFlags {
  group: string;
  release: string;
  waves: number[];
  soak: number;
  maxFailureRate: number;
  minDevices: number;
  key: string;
  state?: string;
  id?: string;
  json?: boolean;
}

interface ControlFlags extends BrokerFlags {
  key: string;
  state?: string;
  reason?: string;
  rollback?: boolean;
  timeout: number;
  json?: boolean;
}

export function registerFleetRollout(fleet: Command, io: CliIo): void {
  const cmd = fleet
    .command('rollout')
    .description('release to a group in waves that stop themselves: one signed publish per wave, success counted only once a device committed after its health checks')
    .requiredOption('--group <group>', 'the group to roll out to', parseId('group'))
    .requiredOption('--release <file>', 'the signed release manifest (PUBLISHED/releases/<ref>/<version>.jws)')
    .requiredOption('--key <dir>', 'the release key (`ota keys generate`): signs the rollout documents, checks the release')
    .option('--waves <list>', "each wave's share of the group, increasing, ending at 100%", parseWaves, [100, 1000, 5000, 10_000])
    .option('--soak <duration>', 'how long a wave that succeeded waits before the next (0, 30s, 10m, 2h)', (v: string) => parseDuration(v), 600)
    .option('--max-failure-rate <percent>', 'halt when failures pass this share of the results', parseRate, 500)
    .option('--min-devices <n>', 'results a wave needs before its failure rate can halt it early', parseMinDevices, 1)
    .option('--state <file>', "the rollout's state (default $XDG_STATE_HOME/deb-ota/rollouts/<group>.json)")
    .option('--id <id>', 'the rollout id (default: random); it decides which devices each wave holds', parseId('rollout id'))
    .option('--json', 'print one JSON document on stdout at the end (docs/cli-json.md)');
  addBrokerOptions(cmd).action(async (opts: RolloutFlags) => {
    const stop = untilInterrupted();
    const show = progressPrinter(io);
    try {
      const r = await runRollout({
        broker: brokerOptions(opts),
        prefix: opts.prefix,
        group: opts.group,
        releaseFile: opts.release,
        keyPath: opts.key,
        statePath: opts.state ?? defaultStatePath(opts.group),
        plan: { waves: opts.waves, soakSeconds: opts.soak, maxFailureBasisPoints: opts.maxFailureRate, minDevices: opts.minDevices },
        ...(opts.id !== undefined ? { id: opts.id } : {}),
        signal: stop.signal,
        onProgress: opts.json ? undefined : show.progress,
      });
      show.done();
      report(io, r, opts.json === true, opts.state ?? defaultStatePath(opts.group));
    } finally {
      show.done();
      stop.dispose();
    }
  });
  for (const [verb, what] of [
    ['pause', 'stop starting updates (what is under way finishes)'],
    ['resume', 'go on with a paused or halted rollout (a halted wave lets its failed devices go)'],
    ['abort', 'end the rollout: devices that have not started never will; with --rollback, those on the release go back'],
  ] as const) {
    const c = fleet
      .command(verb)
      .description(`${what}; re-publishes the signed rollout document, a running \`ota fleet rollout\` follows`)
      .argument('<group>', 'the group', parseId('group'))
      .requiredOption('--key <dir>', 'the release key that signed the rollout')
      .option('--state <file>', "the rollout's state (default $XDG_STATE_HOME/deb-ota/rollouts/<group>.json)")
      .option('--reason <text>', 'why, for the devices and the audit')
      .option('--json', 'print one JSON document on stdout (docs/cli-json.md)');
    if (verb === 'abort') {
      c.option('--rollback', "also send one signed group rollback, only for devices booted on the rollout's release, and show each confirmation").option(
        '--timeout <duration>',
        'with --rollback, how long to wait for the confirmations (0, 30s, 10m, 1h)',
        (v: string) => parseDuration(v, '--timeout'),
        600,
      );
    }
    addBrokerOptions(c).action(async (group: string, opts: ControlFlags) => control(io, verb, group, opts));
  }
}

async function control(io: CliIo, verb: 'pause' | 'resume' | 'abort', group: string, opts: ControlFlags): Promise<void> {
  const o: ControlOptions = { group, keyPath: opts.key, broker: brokerOptions(opts), reason: opts.reason ?? null, ...(opts.state !== undefined ? { statePath: opts.state } : {}) };
  if (verb !== 'abort') return controlled(io, verb === 'pause' ? await pauseRollout(o) : await resumeRollout(o), null, opts.json === true);
  if (opts.rollback !== true) return controlled(io, await abortRollout(o), null, opts.json === true);
  const stop = untilInterrupted();
  try {
    const r = await abortRollout({
      ...o,
      rollback: {
        timeoutSeconds: opts.timeout,
        signal: stop.signal,
        onPublished: (p) => io.reporter.line(`sent rollback command ${p.nonce} on ${p.topic}: waiting for ${p.pending} of ${p.devices} device${p.devices === 1 ? '' : 's'}`),
        onOutcome: (t, c) => {
          if (opts.json !== true) io.out(`[${c.devices - c.pending}/${c.devices}] ${outcomeLine(t)}`);
        },
      },
    });
    controlled(io, r, r.rollback, opts.json === true);
  } finally {
    stop.dispose();
  }
}

function controlled(io: CliIo, r: ControlResult, rollback: FleetRollbackResult | null, json: boolean): void {
  const s = r.state;
  const c = rollback?.counts;
  const back = c === undefined ? '' : `; rollback: ${c.confirmed} confirmed, ${c.refused} refused, ${c.failed} failed, ${c.skipped} skipped, ${c.pending} pending`;
  if (rollback !== null && c !== undefined && c.refused + c.failed + c.pending > 0) {
    throw new OtaError('ERR_OTA_NOT_CONFIRMED', `rollout ${s.id} of ${s.release.version} to ${s.group}: ${s.phase}${back}`, {
      details: rollback.devices.filter((t) => t.outcome === 'refused' || t.outcome === 'failed' || t.outcome === 'pending').map(outcomeLine),
      hint: 'each line says why; `ota fleet events DEVICE` shows the device, `ota fleet rollback --device D` tries one again',
    });
  }
  if (json) printJson(io.out, { ...summaryOf(s), statePath: r.statePath, ...(rollback === null ? {} : { rollback: { nonce: rollback.nonce, counts: rollback.counts, devices: rollback.devices.map((t) => ({ device: t.device, outcome: t.outcome, reason: t.reason })) } }) });
  else io.out(`rollout ${s.id} of ${s.release.version} to ${s.group}: ${s.phase}, wave ${s.wave.index + 1} of ${s.waves.length}${back}`);
}

function outcomeLine(t: DeviceTrack): string {
  if (t.outcome === 'pending') return `${t.device}: no confirmation (phase ${t.phase ?? '-'}, booted ${t.booted ?? '-'})`;
  return `${t.device}: ${t.outcome}: ${cleanText(t.reason ?? '', { maxChars: 300 })}`;
}

function progressLine(p: RolloutProgress): string {
  const s = p.state;
  const o = p.wave.byOutcome;
  const soak = p.soakLeftSeconds === null ? '' : `, soaking ${p.soakLeftSeconds} s`;
  const state = s.phase === 'running' ? '' : ` ${s.phase}${s.reason === null ? '' : ` (${cleanText(s.reason, { maxChars: 200 })})`}`;
  return `wave ${p.wave.index + 1}/${s.waves.length} (${p.wave.basisPoints / 100}%)${state}: ${p.wave.expected} of ${p.devices} devices, ${o.succeeded.length} succeeded, ${o.failed.length} failed, ${o.updating.length} updating, ${o.pending.length} pending, ${o.offline.length} offline${skipped(o.skipped)}${soak}`;
}

/** Progress on stderr: one line redrawn on a terminal, a timestamped line per change otherwise. */
function progressPrinter(io: CliIo): { progress: (p: RolloutProgress) => void; done: () => void } {
  const tty = Boolean(io.err.isTTY) && process.env.CI === undefined;
  let last = '';
  let shown = false;
  return {
    progress: (p) => {
      const line = progressLine(p);
      if (line === last) return;
      last = line;
      if (tty) {
        io.err.write(`\r\x1b[2K${line.slice(0, (io.err.columns ?? 100) - 1)}`);
        shown = true;
      } else io.err.write(`${new Date().toISOString()} ${line}\n`);
    },
    done: () => {
      if (shown) io.err.write('\n');
      shown = false;
    },
  };
}

function summaryOf(s: RolloutControl) {
  return { id: s.id, group: s.group, release: { version: s.release.version, commit: s.release.commit }, phase: s.phase, reason: s.reason, wave: { index: s.wave.index, basisPoints: s.waves[s.wave.index]! }, waves: s.waves, failedDevices: s.failedDevices };
}

function report(io: CliIo, r: RolloutResult, json: boolean, statePath: string): void {
  const s = r.state;
  const o = r.wave.byOutcome;
  if (s.phase === 'halted') {
    if (!json) for (const d of s.failedDevices) io.out(`failed: ${d}`);
    throw new OtaError('ERR_OTA_ROLLOUT_HALTED', `rollout ${s.id} of ${s.release.version} to ${s.group} halted: ${s.reason ?? ''}`, {
      hint: `look at the failed devices (\`ota fleet events DEVICE\`), then \`ota fleet resume ${s.group}\` or \`ota fleet abort ${s.group}\``,
      details: s.failedDevices.map((d) => `failed: ${d}`),
    });
  }
  if (json) return printJson(io.out, { ...summaryOf(s), statePath, continued: r.continued, interrupted: r.interrupted, devices: r.devices, counts: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.length])) });
  const end = r.interrupted ? `${s.phase}, stopped following (run the same command to go on)` : s.phase;
  io.out(`rollout ${s.id} of ${s.release.version} to ${s.group}: ${end}, wave ${s.wave.index + 1} of ${s.waves.length}, ${o.succeeded.length} of ${r.wave.expected} devices on ${s.release.version}, ${o.failed.length} failed${skipped(o.skipped)}`);
}

/** Devices already on a newer version: named only when there are some. */
function skipped(ids: readonly string[]): string {
  return ids.length === 0 ? '' : `, ${ids.length} skipped (on a newer version)`;
}
