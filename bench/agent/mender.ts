/**
 * The peer a user would pick: Debian's mender-client daemon (Go), installed from Debian's packages
 * when missing, run with a temporary configuration and data folder against a server on loopback
 * that accepts connections and answers nothing, and measured idle as the agent is.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, start } from '../../common/exec.js';
import { sampleWindow, type Window } from './proc.js';

/** mender-client 3.4 reads the current artifact's name from this fixed path, whatever its configuration says. */
const ARTIFACT_INFO = '/etc/mender/artifact_info';

async function ensureInstalled(): Promise<string> {
  if (!existsSync('/usr/bin/mender')) {
    console.log('  installing mender-client from Debian (apt-get install --no-install-recommends mender-client)');
    await run('apt-get install mender-client', ['apt-get', 'install', '-y', '--no-install-recommends', 'mender-client'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  // The package enables its service; on a host run by systemd, stop it so only the bench's copy runs.
  if (existsSync('/run/systemd/system')) await run('systemctl disable --now mender-client', ['systemctl', 'disable', '--now', 'mender-client'], { okCodes: [0, 1, 5] });
  const v = await run('mender --version', ['mender', '--version']);
  return `mender-client ${v.stdout.trim().split(/\s+/)[0] ?? '?'}`;
}

/** A TCP server on 127.0.0.1 that accepts and never answers (mender's TLS handshakes hang until its own timeouts). */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface MenderIdle {
  version: string;
  idle: Window;
}

/** Starts `mender daemon`, lets it settle for `settleSeconds`, samples `seconds`, stops it (SIGTERM, then waits). */
export async function menderIdle(seconds: number, settleSeconds: number): Promise<MenderIdle> {
  const version = await ensureInstalled();
  const dir = await mkdtemp(join(tmpdir(), 'ota-bench-mender-'));
  const server = await silentServer();
  const madeArtifactInfo = !existsSync(ARTIFACT_INFO);
  try {
    if (madeArtifactInfo) {
      await mkdir('/etc/mender', { recursive: true });
      await writeFile(ARTIFACT_INFO, 'artifact_name=bench-1.0\n');
    }
    await mkdir(join(dir, 'data'));
    await writeFile(join(dir, 'data/device_type'), 'device_type=bench\n');
    const conf = { ServerURL: `https://127.0.0.1:${server.port}`, UpdatePollIntervalSeconds: 1800, InventoryPollIntervalSeconds: 28800, RetryPollIntervalSeconds: 300 };
    await writeFile(join(dir, 'mender.conf'), JSON.stringify(conf));
    const argv = ['mender', '--config', join(dir, 'mender.conf'), '--fallback-config', join(dir, 'none.conf'), '--data', join(dir, 'data'), '--no-syslog', '--log-file', join(dir, 'log'), 'daemon'];
    const daemon = start('mender daemon', argv);
    try {
      await sleep(settleSeconds * 1000);
      return { version, idle: await sampleWindow(daemon.pid, seconds) };
    } finally {
      daemon.kill('SIGTERM');
      await daemon.exited;
    }
  } finally {
    if (madeArtifactInfo) await rm(ARTIFACT_INFO, { force: true });
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}
