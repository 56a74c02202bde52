/**
 * The agent the bench measures is the one that ships: the single executable of `npm run
 * build:agent` (scripts/build-agent/), started as its systemd unit starts it, with the relay's
 * flags as that executable's Node takes them (device-agent/daemon/node-flags.ts, seaRelayLaunch).
 * Its workers are the same executable: the relay starts itself (device-agent/daemon/self.ts).
 */
import { join } from 'node:path';
import { run } from '../../common/exec.js';
import { relayNodeFlags, seaRelayLaunch } from '../../device-agent/daemon/node-flags.js';
import { buildAgents } from '../../scripts/build-agent/build.js';

const REPO = join(import.meta.dirname, '../..');

export interface AgentExecutable {
  path: string;
  /** The Node inside it (its manifest). */
  nodeVersion: string;
  /** Where it came from, for the bench's first lines. */
  origin: string;
}

/**
 * BENCH_AGENT_EXE, an executable built before; else this checkout's amd64 executable, built now
 * into out/agent/amd64 (about 10 s with the packages cached), so the figures are this checkout's.
 */
export async function agentExecutable(): Promise<AgentExecutable> {
  const given = process.env.BENCH_AGENT_EXE;
  if (given !== undefined && given !== '') {
    const r = await run('ota-agent --version --json', [given, '--version', '--json']);
    const v = JSON.parse(r.stdout) as { node: string };
    return { path: given, nodeVersion: v.node, origin: 'BENCH_AGENT_EXE' };
  }
  const t0 = Date.now();
  const [m] = await buildAgents({ arches: ['amd64'] }, () => {});
  if (m === undefined) throw new Error('bench agent: build:agent made no amd64 executable: this is a bug');
  const origin = `npm run build:agent -- --arch amd64, ${((Date.now() - t0) / 1000).toFixed(0)} s, ${(m.sizeBytes / 1e6).toFixed(1)} MB`;
  return { path: join(REPO, 'out/agent/amd64/ota-agent'), nodeVersion: m.node.version, origin };
}

/** The relay's command line and environment, as the unit has them, plus `extraFlags` for a look inside (the bench's env). */
export function relayCommand(exe: AgentExecutable, extraFlags: readonly string[]): { prefix: string[]; env: Record<string, string>; flags: string[] } {
  const flags = [...relayNodeFlags(exe.nodeVersion), ...extraFlags];
  const launch = seaRelayLaunch(exe.nodeVersion);
  if (launch.nodeOptions !== null) return { prefix: [exe.path], env: { NODE_OPTIONS: [launch.nodeOptions, ...extraFlags].join(' ') }, flags };
  return { prefix: [exe.path, `--node-options=${flags.join(' ')}`], env: {}, flags };
}

/**
 * Drops the executable from the page cache (`dd iflag=nocache`: POSIX_FADV_DONTNEED over the whole
 * file) before a relay starts, as after a device's boot. A file just written is all in the cache,
 * and the kernel maps the cached neighbours of each page a process faults in (fault-around): the
 * same relay then shows megabytes more of the executable resident. Pages another process maps stay.
 */
export async function dropFromPageCache(file: string): Promise<void> {
  await run('dd iflag=nocache', ['dd', `if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
}
