import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { OtaError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { agentCliPages } from './cli-pages.js';
import { dependsFor, isElf, readElfNeeds } from './elf.js';
import { agentDebPlan, checkArch, md5sumsText, type AgentDebPlan } from './plan.js';

/**
 * Builds the agent's .deb for one architecture (docs/agent.md, "Packaging"): lays agentDebPlan's files out in a
 * scratch folder with fixed modes and mtimes, writes DEBIAN/, and runs dpkg-deb so that the same input gives the
 * same bytes: SOURCE_DATE_EPOCH for every timestamp, owner root:root (--root-owner-group), names sorted (dpkg-deb
 * sorts), and xz on one thread (liblzma's threaded encoder writes other bytes than its single-threaded one, and
 * dpkg-deb would pick by the machine's cores) at level 1 (docs/agent.md, "Packaging": a fifth of level 6's time).
 *
 * @example
 * const deb = await buildAgentDeb({ arch: 'arm64', binary: 'out/agent/arm64/ota-agent', outDir: 'out/agent', version: '0.1.0', epochSeconds, nodeOptions: null });
 */
export interface BuildAgentDebOptions {
  arch: string;
  binary: string;
  outDir: string;
  version: string;
  epochSeconds: number;
  nodeOptions: string | null;
  /** The relay's flags as arguments before `daemon` in the unit (plan.ts). */
  relayArgs?: readonly string[];
  maintainer?: string;
}

export interface BuiltAgentDeb {
  path: string;
  sha256: string;
  sizeBytes: number;
  plan: AgentDebPlan;
}

export async function buildAgentDeb(o: BuildAgentDebOptions): Promise<BuiltAgentDeb> {
  const binaryBytes = await executableSize(o.binary);
  const arch = checkArch(o.arch);
  // A stand-in that is not ELF (a script, in tests) gets what Node's official builds link.
  const linked = (await isElf(o.binary)) ? dependsFor(await readElfNeeds(o.binary), arch, o.binary) : undefined;
  const pages = await agentCliPages(o.epochSeconds);
  const plan = agentDebPlan({ arch, version: o.version, binaryBytes, epochSeconds: o.epochSeconds, nodeOptions: o.nodeOptions, relayArgs: o.relayArgs, maintainer: o.maintainer, linked, pages });
  await mkdir(o.outDir, { recursive: true });
  const scratch = await mkdtemp(join(o.outDir, '.deb-'));
  try {
    const root = join(scratch, 'root');
    await layOut(plan, root, o);
    const built = join(scratch, plan.fileName);
    await run(`dpkg-deb --build ${plan.fileName}`, ['dpkg-deb', '--root-owner-group', '-Zxz', '-z1', '--threads-max=1', '--build', root, built], {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(o.epochSeconds) },
    });
    const bytes = await readFile(built);
    const path = join(o.outDir, plan.fileName);
    await writeFileAtomic(path, bytes);
    return { path, sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length, plan };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The files and folders, then DEBIAN/; modes set explicitly (the umask must not show) and every mtime the epoch. */
async function layOut(plan: AgentDebPlan, root: string, o: BuildAgentDebOptions): Promise<void> {
  const sums: Array<{ path: string; md5: string }> = [];
  const stamped: string[] = [root];
  await mkdir(root, { mode: 0o755 });
  await chmod(root, 0o755);
  for (const e of plan.entries) {
    const target = join(root, e.path);
    if (e.content.kind === 'dir') await mkdir(target, { recursive: true });
    else {
      if (e.content.kind === 'binary') await copyFile(o.binary, target);
      else await writeFile(target, e.content.bytes);
      sums.push({ path: e.path, md5: createHash('md5').update(await readFile(target)).digest('hex') });
    }
    await chmod(target, e.mode);
    stamped.push(target);
  }
  const control = join(root, 'DEBIAN');
  await mkdir(control, { mode: 0o755 });
  await chmod(control, 0o755);
  const controlFiles: Array<[string, string, number]> = [
    ['control', plan.control, 0o644],
    ['conffiles', plan.conffiles.map((c) => `${c}\n`).join(''), 0o644],
    ['md5sums', md5sumsText(sums), 0o644],
    ...Object.entries(plan.scripts).map(([name, text]): [string, string, number] => [name, text, 0o755]),
  ];
  for (const [name, text, mode] of controlFiles) {
    await writeFile(join(control, name), text);
    await chmod(join(control, name), mode);
    stamped.push(join(control, name));
  }
  stamped.push(control);
  for (const p of stamped) await utimes(p, o.epochSeconds, o.epochSeconds);
}

async function executableSize(binary: string): Promise<number> {
  const s = await stat(binary).catch((e: NodeJS.ErrnoException) => {
    throw new OtaError('ERR_OTA_USAGE', `the agent's executable ${binary}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, {
      hint: 'build it first (npm run build:agent), or give one with --binary PATH',
      cause: e,
    });
  });
  if (!s.isFile() || (s.mode & 0o111) === 0) {
    throw new OtaError('ERR_OTA_USAGE', `the agent's executable ${binary} is not an executable file`, { hint: 'give the ota-agent that npm run build:agent made' });
  }
  return s.size;
}
