import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../common/exec.js';
import type { AgentArch } from './plan.js';

/**
 * A folder holding a foreign architecture's C and C++ runtime, for running that architecture's
 * Node under qemu-user (`QEMU_LD_PREFIX`) on a host that has none: build:agent makes a 32-bit
 * target's blob with it (docs/agent.md, "Shipping the agent"), and the tests run the arm
 * executables with it. The packages come from the host's own apt sources (scripts/setup adds the
 * arm64 and armhf architectures), checked by apt; the folder is made once per cache and reused.
 *
 * @example
 * const prefix = await emulatorRoot('armhf', cacheDir); // run with { env: { ...process.env, QEMU_LD_PREFIX: prefix } }
 */
export const RUNTIME_PACKAGES = ['libc6', 'libstdc++6', 'libgcc-s1', 'libatomic1'];

export async function emulatorRoot(arch: AgentArch, cacheDir: string): Promise<string> {
  const root = join(cacheDir, `root-${arch}`);
  if (await stat(join(root, '.complete')).catch(() => null)) return root;
  const work = join(cacheDir, `.root-${arch}-${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'debs'), { recursive: true });
  await run(`apt-get download (${arch})`, ['apt-get', 'download', '-q', ...RUNTIME_PACKAGES.map((p) => `${p}:${arch}`)], { cwd: join(work, 'debs') });
  for (const deb of await readdir(join(work, 'debs'))) await run(`dpkg -x ${deb}`, ['dpkg', '-x', join(work, 'debs', deb), join(work, 'root')]);
  await writeFile(join(work, 'root', '.complete'), `${RUNTIME_PACKAGES.join(' ')}\n`);
  await rm(root, { recursive: true, force: true });
  await rename(join(work, 'root'), root);
  await rm(work, { recursive: true, force: true });
  return root;
}
