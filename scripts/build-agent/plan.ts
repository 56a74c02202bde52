import { join } from 'node:path';
import { OtaError } from '../../common/errors.js';

/**
 * The plan of `npm run build:agent` (docs/agent.md, "Shipping the agent"), as data
 * (docs/conventions.md, "Plan as data"): for each Debian architecture, which pinned Node and koffi
 * packages it takes, how its single-executable blob is made and injected, how koffi's native
 * module rides in it, and where the result goes. execute.ts does the work.
 *
 * @example
 * const plan = planAgentBuild({ pins, arches: ['amd64'], hostArch: 'amd64', version: '0.1.0', koffiVersion: '3.3.4', outDir: 'out/agent', cacheDir });
 */
export type AgentArch = 'amd64' | 'arm64' | 'armhf';
export const AGENT_ARCHES: readonly AgentArch[] = ['amd64', 'arm64', 'armhf'];

/** A package of the npm registry, pinned: the integrity is the registry's `dist.integrity`. */
export interface NpmPin {
  name: string;
  version: string;
  integrity: string;
}

/** scripts/build-agent/pins.json. */
export interface Pins {
  node: Record<AgentArch, NpmPin>;
  /** koffi's per-platform package and the native module's path in it. */
  koffi: Record<AgentArch, NpmPin & { file: string }>;
  /** Injects a blob into a Node that has no --build-sea (Node 20). */
  postject: NpmPin;
}

export interface TargetPlan {
  arch: AgentArch;
  node: NpmPin;
  koffi: NpmPin & { file: string };
  /** Node's own `--build-sea` (from 25.5), else `--experimental-sea-config` and postject. */
  sea: 'build-sea' | 'postject';
  /**
   * binutils' strip for the target (scripts/setup installs the cross ones): Node's packages keep their symbols, a
   * third of the binary, which nothing on a device reads.
   */
  strip: string;
  /** koffi's module as an asset of the executable (node:sea has them from 20.12), else as bytes in the bundle. */
  koffiEmbed: 'asset' | 'bundle';
  /**
   * The pinned Node that makes the blob (the target's version), and the qemu-user program that runs it on this host, if
   * any: it then runs with the target's C and C++ runtime from Debian (emulator-root.ts).
   */
  blobNode: { pin: NpmPin; emulator: string | null };
  /** out/agent/<arch>: the executable `ota-agent` and its manifest `ota-agent.json`. */
  outDir: string;
  /** Scratch space for this target, beside the output so that the final rename stays on one file system. */
  workDir: string;
}

export interface BuildPlan {
  version: string;
  cacheDir: string;
  /** Every package to fetch, once each. */
  fetch: NpmPin[];
  targets: TargetPlan[];
}

export interface PlanInput {
  pins: Pins;
  arches: readonly AgentArch[];
  hostArch: AgentArch;
  /** The deb-ota version the agent reports. */
  version: string;
  /** The installed koffi's version: the bundled JavaScript and the native module must match. */
  koffiVersion: string;
  outDir: string;
  cacheDir: string;
}

const STRIP: Record<AgentArch, string> = { amd64: 'x86_64-linux-gnu-strip', arm64: 'aarch64-linux-gnu-strip', armhf: 'arm-linux-gnueabihf-strip' };
const BITS: Record<AgentArch, number> = { amd64: 64, arm64: 64, armhf: 32 };
const EMULATOR: Record<AgentArch, string> = { amd64: 'qemu-x86_64-static', arm64: 'qemu-aarch64-static', armhf: 'qemu-arm-static' };

export function planAgentBuild(input: PlanInput): BuildPlan {
  if (input.arches.length === 0) throw new OtaError('ERR_OTA_USAGE', 'build:agent: no architecture asked for', { hint: `name some of ${AGENT_ARCHES.join(', ')}` });
  const targets = input.arches.map((arch) => planTarget(input, arch));
  const fetch = new Map<string, NpmPin>();
  for (const t of targets) {
    for (const p of [t.node, t.koffi, t.sea === 'postject' ? input.pins.postject : null, t.blobNode.pin]) {
      if (p !== null) fetch.set(`${p.name}@${p.version}`, { name: p.name, version: p.version, integrity: p.integrity });
    }
  }
  return { version: input.version, cacheDir: input.cacheDir, fetch: [...fetch.values()], targets };
}

function planTarget(input: PlanInput, arch: AgentArch): TargetPlan {
  if (!AGENT_ARCHES.includes(arch)) throw new OtaError('ERR_OTA_USAGE', `build:agent: unknown architecture ${JSON.stringify(arch)}`, { hint: `one of ${AGENT_ARCHES.join(', ')} (Debian's names)` });
  const node = input.pins.node[arch];
  const koffi = input.pins.koffi[arch];
  if (koffi.version !== input.koffiVersion) {
    throw new OtaError('ERR_OTA_BUILD', `build:agent: scripts/build-agent/pins.json pins ${koffi.name}@${koffi.version}, but koffi ${input.koffiVersion} is installed`, {
      hint: `pin ${koffi.name} at ${input.koffiVersion} with its integrity (npm view ${koffi.name}@${input.koffiVersion} dist.integrity)`,
    });
  }
  const v = parseVersion(node.version);
  // The blob must come from the target's own Node version, and its lengths are size_t: the host's pinned Node makes it when
  // that is the same version and word size (the blob holds no code cache, nothing else depends on the architecture), else
  // the target's own Node does, under qemu-user.
  const host = input.pins.node[input.hostArch];
  const native = host.version === node.version && BITS[input.hostArch] === BITS[arch];
  const blobNode = native ? { pin: host, emulator: null } : { pin: node, emulator: arch === input.hostArch ? null : EMULATOR[arch] };
  return {
    arch,
    node,
    koffi,
    strip: STRIP[arch],
    sea: atLeast(v, [25, 5]) ? 'build-sea' : 'postject',
    koffiEmbed: atLeast(v, [20, 12]) ? 'asset' : 'bundle',
    blobNode,
    outDir: join(input.outDir, arch),
    workDir: join(input.outDir, '.work', arch),
  };
}

function parseVersion(v: string): [number, number] {
  const m = /^(\d+)\.(\d+)\.\d+$/.exec(v);
  if (m === null) throw new OtaError('ERR_OTA_BUILD', `build:agent: pins.json has a Node version ${JSON.stringify(v)} that is not MAJOR.MINOR.PATCH`);
  return [Number(m[1]), Number(m[2])];
}

function atLeast(v: [number, number], min: [number, number]): boolean {
  return v[0] > min[0] || (v[0] === min[0] && v[1] >= min[1]);
}
