import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';
import { packageVersion } from '../../common/package-version.js';
import { executeAgentBuild, type AgentManifest } from './execute.js';
import { AGENT_ARCHES, planAgentBuild, type AgentArch, type BuildPlan, type Pins } from './plan.js';

/**
 * build:agent from this checkout (docs/agent.md, "Shipping the agent"): the pins, the installed
 * koffi and the package's version make the plan, which is then carried out. The npm script and the
 * test that runs the executables both come here.
 *
 * @example
 * const built = await buildAgents({ arches: ['amd64'], outDir: 'out/agent' }, console.error);
 */
export interface BuildOptions {
  arches?: readonly AgentArch[];
  outDir?: string;
  cacheDir?: string;
}

const REPO = join(import.meta.dirname, '../..');
const HOST_ARCH: Record<string, AgentArch> = { x64: 'amd64', arm64: 'arm64', arm: 'armhf' };

/** Where the Node packages are cached: $OTA_AGENT_BUILD_CACHE, else ~/.cache/deb-ota/node. */
export function defaultCacheDir(): string {
  return process.env.OTA_AGENT_BUILD_CACHE ?? join(homedir(), '.cache/deb-ota/node');
}

export async function readPins(): Promise<Pins> {
  return JSON.parse(await readFile(join(import.meta.dirname, 'pins.json'), 'utf8')) as Pins;
}

export async function planFromRepo(o: BuildOptions): Promise<BuildPlan> {
  const koffi = JSON.parse(await readFile(join(REPO, 'node_modules/koffi/package.json'), 'utf8')) as { version: string };
  const hostArch = HOST_ARCH[process.arch];
  if (hostArch === undefined) throw new OtaError('ERR_OTA_BUILD', `build:agent: no pinned Node runs on this host (${process.arch})`);
  return planAgentBuild({
    pins: await readPins(),
    arches: o.arches ?? AGENT_ARCHES,
    hostArch,
    version: await packageVersion(),
    koffiVersion: koffi.version,
    outDir: o.outDir ?? join(REPO, 'out/agent'),
    cacheDir: o.cacheDir ?? defaultCacheDir(),
  });
}

export async function buildAgents(o: BuildOptions, progress: (line: string) => void): Promise<AgentManifest[]> {
  return executeAgentBuild(await planFromRepo(o), await readPins(), progress);
}
