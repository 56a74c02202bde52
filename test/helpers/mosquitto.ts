import { connect, createServer } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, start, type Started } from '../../common/exec.js';

/**
 * A real Mosquitto broker for tests: started on a free 127.0.0.1 port with a temporary config,
 * ready when its port accepts connections, stopped (and its directory removed) by `stop()`.
 * Optional password users and TLS (server certificate, and a CA to require client certificates).
 *
 * @example
 * const broker = await startMosquitto();
 * try { await publishSomething(broker.url); } finally { await broker.stop(); }
 */
export interface MosquittoOptions {
  /** username -> password; when given, anonymous clients are refused. */
  users?: Record<string, string>;
  /** Serve TLS (mqtts://) with this certificate and key; with `clientCa`, clients must present a certificate it signed. */
  tls?: { certFile: string; keyFile: string; clientCa?: string };
  /** Further lines for mosquitto.conf. */
  extraConfig?: string[];
  /**
   * The listeners and their security, written by the test (e.g. the snippet `ota fleet acl`
   * makes) in place of `users` and `tls`; it gets the free port the helper waits on.
   */
  config?: (port: number) => string[];
  /** Listen on this port (a broker started again where its clients look for it); default a free one. */
  port?: number;
  /**
   * Keep sessions, their queued QoS 1 messages and retained messages in this folder (it must exist
   * and outlive the broker): a broker stopped and started again with the same folder remembers them.
   */
  persistenceDir?: string;
}

export interface Mosquitto {
  port: number;
  /** mqtt://127.0.0.1:PORT (mqtts:// with TLS). */
  url: string;
  /** The broker's log so far (stderr): useful in a failing test's message. */
  log: () => string;
  stop: () => Promise<void>;
}

/** A port nobody listens on right now (the kernel's choice for port 0). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'ota-mosquitto-'));
  // Another process may take the free port before mosquitto binds it: try a few ports.
  let lastError: unknown;
  for (let i = 0; i < (options.port === undefined ? 5 : 1); i++) {
    const port = options.port ?? (await freePort());
    const conf = await writeConfig(dir, port, options);
    const child = start('mosquitto', ['mosquitto', '-c', conf]);
    let log = '';
    child.onStderr((t) => (log += t));
    try {
      await waitListening(port, child);
      const scheme = options.tls ? 'mqtts' : 'mqtt';
      return { port, url: `${scheme}://127.0.0.1:${port}`, log: () => log, stop: () => stopBroker(child, dir) };
    } catch (e) {
      lastError = new Error(`mosquitto did not start on port ${port}: ${e instanceof Error ? e.message : String(e)}\n${log}`);
      child.kill('SIGKILL');
      await child.exited.catch(() => {});
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

async function writeConfig(dir: string, port: number, options: MosquittoOptions): Promise<string> {
  const lines = [
    // The tests run as root; mosquitto would otherwise switch to its own user and lose the temp dir.
    'user root',
    'per_listener_settings false',
    ...(options.persistenceDir === undefined ? ['persistence false'] : ['persistence true', `persistence_location ${options.persistenceDir}/`]),
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
  ];
  if (options.config) {
    lines.push(...options.config(port), ...(options.extraConfig ?? []));
    const conf = join(dir, 'mosquitto.conf');
    await writeFile(conf, `${lines.join('\n')}\n`);
    return conf;
  }
  lines.push(`listener ${port} 127.0.0.1`);
  if (options.users) {
    const pw = join(dir, 'passwd');
    await writeFile(pw, '', { mode: 0o600 });
    for (const [user, pass] of Object.entries(options.users)) await run('mosquitto_passwd', ['mosquitto_passwd', '-b', pw, user, pass]);
    lines.push('allow_anonymous false', `password_file ${pw}`);
  } else {
    lines.push('allow_anonymous true');
  }
  if (options.tls) {
    lines.push(`certfile ${options.tls.certFile}`, `keyfile ${options.tls.keyFile}`);
    if (options.tls.clientCa) lines.push(`cafile ${options.tls.clientCa}`, 'require_certificate true');
  }
  lines.push(...(options.extraConfig ?? []));
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(conf, `${lines.join('\n')}\n`);
  return conf;
}

/** Polls the port until it accepts a TCP connection, or the broker exits (a bad config, a taken port). */
async function waitListening(port: number, child: Started): Promise<void> {
  let exited = false;
  void child.exited.then(() => (exited = true), () => (exited = true));
  for (let i = 0; i < 200; i++) {
    if (exited) throw new Error('mosquitto exited');
    if (await accepts(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('mosquitto did not listen within 10 s');
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function stopBroker(child: Started, dir: string): Promise<void> {
  child.kill('SIGTERM');
  await child.exited.catch(() => {});
  await rm(dir, { recursive: true, force: true });
}

/**
 * `mosquitto_sub` receiving `count` messages on `topic` (retained ones included), as a separate
 * client would: the payloads, one per message.
 *
 * @example
 * const [jws] = await subscribeOnce(broker.url, 'ota/groups/lab/release');
 */
export async function subscribeOnce(url: string, topic: string, options: { count?: number; timeoutSeconds?: number; args?: string[] } = {}): Promise<string[]> {
  const u = new URL(url);
  const argv = ['mosquitto_sub', '-h', u.hostname, '-p', u.port, '-t', topic, '-C', String(options.count ?? 1), '-W', String(options.timeoutSeconds ?? 10)];
  const { stdout } = await run('mosquitto_sub', [...argv, ...(options.args ?? [])]);
  return stdout.split('\n').filter((l) => l !== '');
}
