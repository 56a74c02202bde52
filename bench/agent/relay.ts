/**
 * The agent's daemon (the relay, `ota-agent daemon`) as a device runs it, and an observer that
 * sees what it publishes, as the fleet would: the single executable (executable.ts) with the
 * relay's flags as its unit gives them, configured through the device's own `etc/ota/agent.yaml`.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { start, type Started } from '../../common/exec.js';
import { connectBroker, type BrokerSession } from '../../host-tools/mqtt/client.js';
import type { Device } from '../../test/device-agent/agent/device.js';
import { dropFromPageCache } from './executable.js';

const REPO = join(import.meta.dirname, '../..');

/** Replaces the device layer's `mqtt` block (the harness writes that layer as JSON after one comment line). */
export async function configureMqtt(d: Device, mqtt: Record<string, unknown>): Promise<void> {
  const file = join(d.root, 'etc/ota/agent.yaml');
  const text = await readFile(file, 'utf8');
  const layer = JSON.parse(text.slice(text.indexOf('\n') + 1)) as Record<string, unknown>;
  await writeFile(file, `# the device's layer (bench/agent)\n${JSON.stringify({ ...layer, mqtt }, null, 2)}\n`);
}

/** The relay's command: the executable and what goes before `--root` (its flags), and the environment it adds. */
export interface RelayCommand {
  prefix: string[];
  env: Record<string, string>;
}

/** Starts the relay on `d`, its executable dropped from the page cache first (executable.ts). */
export async function startRelay(d: Device, cmd: RelayCommand): Promise<Started> {
  await dropFromPageCache(cmd.prefix[0]!);
  return start('ota-agent daemon', [...cmd.prefix, '--root', d.root, 'daemon'], { cwd: REPO, env: { ...process.env, ...cmd.env } });
}

/** The pids of a process's children (the relay's workers), from /proc. */
export async function children(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const out: number[] = [];
  for (const t of tasks) {
    const text = await readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '');
    out.push(...text.trim().split(/\s+/).filter((s) => s !== '').map(Number));
  }
  return out;
}

/** Waits until the relay has run no worker for `quietSeconds` in a row (its start-up tick and report are over). */
export async function quiet(pid: number, quietSeconds: number): Promise<void> {
  let since = Date.now();
  while (Date.now() - since < quietSeconds * 1000) {
    if ((await children(pid)).length > 0) since = Date.now();
    await sleep(100);
  }
}

export interface Seen {
  /** Messages per topic leaf: status, telemetry, events, inventory, online. */
  counts: Map<string, number>;
  /** Presence messages with online: true (one per connection). */
  onlines: number;
  lastStatus: { phase: string; updateId: string | null } | null;
  eventTypes: Map<string, number>;
}

export interface Observer {
  seen: Seen;
  /** Resolves once `test` holds for what was seen (checked on every message), or rejects after `seconds`. */
  until(what: string, test: (s: Seen) => boolean, seconds: number): Promise<void>;
  session: BrokerSession;
  close(): Promise<void>;
}

/** A client subscribed to everything the device publishes. */
export async function observe(url: string, device: string, prefix = 'ota'): Promise<Observer> {
  const session = await connectBroker({ url, clientId: `bench-observer-${process.pid}` });
  const seen: Seen = { counts: new Map(), onlines: 0, lastStatus: null, eventTypes: new Map() };
  const waiters = new Set<() => void>();
  session.onMessage((topic, payload) => {
    const leaf = topic.slice(`${prefix}/devices/${device}/`.length);
    // The commands topic is the bench's own signed commands (JWS, not JSON).
    if (leaf === 'commands') return;
    seen.counts.set(leaf, (seen.counts.get(leaf) ?? 0) + 1);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    } catch {
      return; // not a document: counted, nothing more (a throw here would end the bench and leave the relay running)
    }
    if (leaf === 'online' && doc.online === true) seen.onlines++;
    if (leaf === 'status') seen.lastStatus = { phase: String(doc.phase), updateId: (doc.updateId as string | null) ?? null };
    if (leaf === 'events') seen.eventTypes.set(String(doc.type), (seen.eventTypes.get(String(doc.type)) ?? 0) + 1);
    for (const w of waiters) w();
  });
  await session.subscribe(`${prefix}/devices/${device}/#`, 1);
  const until = (what: string, test: (s: Seen) => boolean, seconds: number) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!test(seen)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`bench agent: ${what} not seen within ${seconds} s`));
      }, seconds * 1000);
      waiters.add(check);
      check();
    });
  return { seen, until, session, close: () => session.close() };
}

/** Stops the relay as systemd does (SIGTERM) and waits for it. */
export async function stopRelay(relay: Started): Promise<void> {
  relay.kill('SIGTERM');
  await relay.exited;
}
