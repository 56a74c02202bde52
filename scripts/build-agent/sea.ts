import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { run } from '../../common/exec.js';
import { seaTakesNodeOptionsArg } from '../../device-agent/daemon/node-flags.js';
import { CLI_ASSET, KOFFI_ASSET } from './bundle.js';
import type { TargetPlan } from './plan.js';

/** The fuse Node's single-executable support looks for (Node's docs, "Single executable applications"). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/**
 * One target's executable from its bundled script (docs/agent.md, "Shipping the agent"). The blob
 * holds the script, its flags (no execArgv: where Node can, the command line may add flags with
 * `--node-options=`, and NODE_OPTIONS is ignored) and, where Node has assets, koffi's module; never a code cache or a
 * snapshot, so a blob made by the x64 Node of the target's version serves an arm64 target too (its
 * lengths are size_t: a 32-bit target's blob is made by its own Node, under qemu-user). Node
 * 25.5 and later inject it themselves (`--build-sea`, the target's binary as `executable`); Node 20
 * makes the blob (`--experimental-sea-config`) and postject injects it into a copy of the binary.
 *
 * @example
 * await makeExecutable(target, { script, cli, targetNode, blobNode, koffiNode, postjectApi, emulatorRoot: null, output });
 */
export interface SeaInput {
  /** The bundled agent script, written. */
  script: string;
  /** The CLI's script, when it is an asset. */
  cli: string | null;
  /** The target's node binary (extracted from its package). */
  targetNode: string;
  /** The node binary that makes the blob (the target's version). */
  blobNode: string;
  koffiNode: string;
  /** postject's dist/api.js, for targets without --build-sea. */
  postjectApi: string | null;
  /** The target's runtime libraries, when the blob's Node runs under qemu-user (emulator-root.ts). */
  emulatorRoot: string | null;
  output: string;
}

export async function makeExecutable(target: TargetPlan, input: SeaInput): Promise<void> {
  const config = join(target.workDir, 'sea-config.json');
  // The relay's flags come as `--node-options=` on its command line where Node can take them so (device-agent/daemon/node-flags.ts).
  const flagsByArg = seaTakesNodeOptionsArg(target.node.version) ? { execArgvExtension: 'cli' } : {};
  const common = { main: input.script, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false, ...flagsByArg };
  const assets = target.koffiEmbed === 'asset' ? { assets: { [KOFFI_ASSET]: input.koffiNode, ...(input.cli === null ? {} : { [CLI_ASSET]: input.cli }) } } : {};
  const node = [...(target.blobNode.emulator ? [target.blobNode.emulator] : []), input.blobNode];
  const env = input.emulatorRoot === null ? process.env : { ...process.env, QEMU_LD_PREFIX: input.emulatorRoot };
  if (target.sea === 'build-sea') {
    await writeFile(config, JSON.stringify({ ...common, ...assets, executable: input.targetNode, output: input.output }));
    await run(`node --build-sea (${target.arch})`, [...node, '--build-sea', config], { env });
    return;
  }
  const blob = join(target.workDir, 'sea.blob');
  await writeFile(config, JSON.stringify({ ...common, ...assets, output: blob }));
  await run(`node --experimental-sea-config (${target.arch})`, [...node, '--experimental-sea-config', config], { env });
  await copyFile(input.targetNode, input.output);
  if (input.postjectApi === null) throw new Error(`build:agent: ${target.arch} needs postject and the plan fetched none: this is a bug`);
  const { inject } = createRequire(import.meta.url)(input.postjectApi) as { inject: (file: string, name: string, data: Buffer, o: { sentinelFuse: string }) => Promise<void> };
  await inject(input.output, 'NODE_SEA_BLOB', await readFile(blob), { sentinelFuse: SEA_FUSE });
}
