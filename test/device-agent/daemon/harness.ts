/**
 * The MQTT proof's device (docs/agent.md, "The daemon and its workers"): a harness device
 * (test/device-agent/agent/device.ts: a real sysroot running 1.0, releases by the real `ota
 * publish` served on 127.0.0.1, the real U-Boot env, the stand-in reboot and boot) whose
 * configuration has an `mqtt` block, and the relay started as the real process:
 * `bin/ota-agent.js --root ROOT daemon`, which starts its workers as `bin/ota-agent.js worker ...`.
 * bin/ runs the compiled dist/ (`npm run build`), so the harness refuses to start when a source of
 * the agent is newer than its compiled file: a stale dist/ would test old code.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { start, type Started } from '../../../common/exec.js';
import { makeDevice, type Device, type DeviceOptions, type Fleet } from '../agent/device.js';
import { until } from '../agent/run-agent.js';

const REPO = join(import.meta.dirname, '../../..');
const BIN = join(REPO, 'bin/ota-agent.js');

export interface MqttDeviceOptions extends DeviceOptions {
  /** The broker's URL (mqtt://127.0.0.1:PORT). */
  broker: string;
  /** More keys of the `mqtt` block (it merges key by key over what the harness sets). */
  mqtt?: Record<string, unknown>;
}

/**
 * A harness device that talks to `broker`. The harness's `mqtt` keys keep the proof quick without
 * changing what is proven: reconnects within a second or two, no telemetry unless a test asks.
 */
export async function makeMqttDevice(f: Fleet, options: MqttDeviceOptions): Promise<Device> {
  const { broker, mqtt, etc, ...rest } = options;
  const block = { url: broker, reconnectMinSeconds: 1, reconnectMaxSeconds: 2, telemetryIntervalSeconds: 0, ...mqtt };
  return makeDevice(f, { ...rest, etc: { ...etc, mqtt: block } });
}

export interface Relay {
  pid: number;
  /** Its journal so far (stderr: its own lines and its workers'). */
  journal(): string;
  /** The journal's lines that match `pattern`. */
  lines(pattern: RegExp): string[];
  /** SIGTERM, and its exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Resolves once no worker runs (the relay has no child process) at that moment: a job the relay
   * has queued may still start after it, so a test that needs quiet waits for the message the last
   * expected job sends first.
   */
  noWorker(): Promise<void>;
  /** SIGKILL (a power cut of the daemon alone), and its end. */
  kill(): Promise<void>;
  child: Started;
}

/** `ota-agent --root <device root> daemon`: the relay, a process of its own, as systemd starts it. */
export async function startRelay(d: Device, ...args: string[]): Promise<Relay> {
  await distIsFresh();
  const child = start('ota-agent daemon', [process.execPath, BIN, '--root', d.root, 'daemon', ...args], { cwd: REPO });
  let journal = '';
  child.onStderr((t) => (journal += t));
  return {
    pid: child.pid,
    child,
    journal: () => journal,
    lines: (pattern) => journal.split('\n').filter((l) => pattern.test(l)),
    noWorker: () => until('the relay has no worker', async () => (await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').catch(() => '')).trim() === ''),
    stop: async () => {
      child.kill('SIGTERM');
      const r = await child.exited;
      return { code: r.code, signal: r.signal };
    },
    kill: async () => {
      child.kill('SIGKILL');
      await child.exited;
    },
  };
}

const SOURCES = ['device-agent', 'contract', 'common', 'node-ostree', 'bootloader'];
let fresh: Promise<void> | undefined;

/** Every .ts source the agent runs has its dist/ .js, at least as new; else the error says to build. */
function distIsFresh(): Promise<void> {
  fresh ??= (async () => {
    const stale: string[] = [];
    for (const dir of SOURCES) {
      for (const ts of await tsFiles(join(REPO, dir))) {
        const js = join(REPO, 'dist', relative(REPO, ts)).replace(/\.ts$/, '.js');
        const built = await stat(js).catch(() => null);
        if (built === null || built.mtimeMs < (await stat(ts)).mtimeMs) stale.push(relative(REPO, ts));
      }
    }
    if (stale.length > 0) throw new Error(`dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ` and ${stale.length - 3} more` : ''}: run \`npm run build\` first`);
  })();
  return fresh;
}

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await tsFiles(p)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}
