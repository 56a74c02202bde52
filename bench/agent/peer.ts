/**
 * The baseline a release-to-staged time is held against: what an operator does by hand with
 * libostree's own CLI on the same device and the same published repository, `ostree pull` then
 * `ostree admin deploy`, timed from the pull's start to the deploy's end.
 */
import { join } from 'node:path';
import { run } from '../../common/exec.js';
import type { Device } from '../../test/device-agent/agent/device.js';
import { OS } from '../../test/device-agent/update/harness.js';
import { cpuSecondsWithChildren } from './proc.js';

export async function cliPullDeploy(d: Device, publishedUrl: string, commit: string): Promise<{ pullSeconds: number; deploySeconds: number; cpuSeconds: number }> {
  const repo = join(d.sysroot, 'ostree/repo');
  // Set up before the clock starts: a device would have its remote configured already.
  await run('ostree remote add', ['ostree', `--repo=${repo}`, 'remote', 'add', '--if-not-exists', '--no-gpg-verify', 'bench', `${publishedUrl}/repo`]);
  // The two commands are this process's only children meanwhile: its children's CPU time is theirs.
  const c0 = await cpuSecondsWithChildren('self', true);
  const t0 = process.hrtime.bigint();
  await run('ostree pull', ['ostree', `--repo=${repo}`, 'pull', 'bench', commit]);
  const t1 = process.hrtime.bigint();
  await run('ostree admin deploy', ['ostree', 'admin', 'deploy', `--sysroot=${d.sysroot}`, `--os=${OS}`, commit]);
  const t2 = process.hrtime.bigint();
  const c1 = await cpuSecondsWithChildren('self', true);
  return { pullSeconds: Number(t1 - t0) / 1e9, deploySeconds: Number(t2 - t1) / 1e9, cpuSeconds: c1 - c0 };
}
