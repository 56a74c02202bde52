import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { run } from '../../common/exec.js';
import { bundleAgent } from './bundle.js';
import { emulatorRoot } from './emulator-root.js';
import { cachedPackage, extractFile } from './packages.js';
import type { BuildPlan, NpmPin, Pins, TargetPlan } from './plan.js';
import { makeExecutable } from './sea.js';

/**
 * Carries out a build:agent plan (plan.ts): fetches and checks the pinned packages, then for each
 * target bundles the agent, makes the executable in the target's scratch folder and moves it into
 * place with its manifest, so out/agent/<arch>/ota-agent is always a whole executable.
 *
 * @example
 * const built = await executeAgentBuild(plan, pins, (line) => console.error(line));
 */
export interface AgentManifest {
  arch: string;
  agentVersion: string;
  node: { package: string; version: string };
  koffi: { package: string; version: string; sha256: string; embedded: 'asset' | 'bundle' };
  sha256: string;
  sizeBytes: number;
}

export async function executeAgentBuild(plan: BuildPlan, pins: Pins, progress: (line: string) => void): Promise<AgentManifest[]> {
  const tarballs = new Map<string, string>();
  for (const pin of plan.fetch) {
    progress(`fetching ${pin.name}@${pin.version}`);
    tarballs.set(key(pin), await cachedPackage(plan.cacheDir, pin));
  }
  const tgz = (pin: NpmPin) => tarballs.get(key(pin))!;
  const built: AgentManifest[] = [];
  for (const target of plan.targets) {
    await rm(target.workDir, { recursive: true, force: true });
    await mkdir(target.workDir, { recursive: true });
    built.push(await buildTarget(plan, target, { tgz, postject: pins.postject, progress }));
    await rm(target.workDir, { recursive: true, force: true });
    // The scratch parent goes too once empty; another build's may still be at work in it.
    await rmdir(dirname(target.workDir)).catch(() => {});
  }
  return built;
}

interface Context {
  tgz: (pin: NpmPin) => string;
  postject: NpmPin;
  progress: (line: string) => void;
}

async function buildTarget(plan: BuildPlan, target: TargetPlan, c: Context): Promise<AgentManifest> {
  const w = target.workDir;
  const targetNode = await extractFile(c.tgz(target.node), 'bin/node', join(w, 'node'));
  // exec.ts names a missing program and says that scripts/setup installs it.
  await run(`${target.strip} (${target.arch})`, [target.strip, targetNode]);
  const blobNode = target.blobNode.pin === target.node ? targetNode : await extractFile(c.tgz(target.blobNode.pin), 'bin/node', join(w, 'blob-node'));
  const koffiNode = await extractFile(c.tgz(target.koffi), target.koffi.file, join(w, 'koffi'));
  const postjectApi = target.sea === 'postject' ? await extractFile(c.tgz(c.postject), 'dist/api.js', join(w, 'postject')) : null;
  c.progress(`${target.arch}: bundling the agent (Node ${target.node.version}, koffi's module as ${target.koffiEmbed === 'asset' ? 'an asset' : 'bytes in the script'})`);
  const bundle = await bundleAgent(target, { version: plan.version, koffiNode });
  const script = join(w, 'agent.cjs');
  await writeFile(script, bundle.script);
  const cli = bundle.cli === null ? null : join(w, 'cli.cjs');
  if (cli !== null) await writeFile(cli, bundle.cli!);
  c.progress(`${target.arch}: making the executable (${target.sea === 'build-sea' ? 'node --build-sea' : 'postject'}${target.blobNode.emulator ? `, the blob under ${target.blobNode.emulator}` : ''})`);
  const output = join(w, 'ota-agent');
  const emulator = target.blobNode.emulator === null ? null : await emulatorRoot(target.arch, plan.cacheDir);
  await makeExecutable(target, { script, cli, targetNode, blobNode, koffiNode, postjectApi, emulatorRoot: emulator, output });
  await chmod(output, 0o755);
  const manifest: AgentManifest = {
    arch: target.arch,
    agentVersion: plan.version,
    node: { package: target.node.name, version: target.node.version },
    koffi: { package: target.koffi.name, version: target.koffi.version, sha256: bundle.koffiSha256, embedded: target.koffiEmbed },
    sha256: createHash('sha256').update(await readFile(output)).digest('hex'),
    sizeBytes: (await stat(output)).size,
  };
  await mkdir(target.outDir, { recursive: true });
  await rename(output, join(target.outDir, 'ota-agent'));
  await writeFileAtomic(join(target.outDir, 'ota-agent.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

function key(pin: NpmPin): string {
  return `${pin.name}@${pin.version}`;
}
