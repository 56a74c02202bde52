import { join } from 'node:path';
import { readCommit, Repo, type Deployment, type Sysroot } from '../../node-ostree/index.js';

/**
 * What the device runs now: the booted deployment, or in a sysroot that is not booted (a
 * directory in tests, an image being prepared) the default one, with the `version` its commit
 * carries (docs/releases.md, "The published directory": a published commit has one).
 */
export interface CurrentCommit {
  commit: string;
  version: string | null;
  deployment: Deployment;
}

export function runningDeployment(sysroot: Sysroot): Deployment | undefined {
  const list = sysroot.deployments();
  return list.find((d) => d.role === 'booted') ?? list[0];
}

/**
 * The running deployment with its version. `running` is the caller's answer to "which commit runs" where it
 * knows better than libostree (the agent's view of a sysroot in a directory, docs/agent.md, "Applying an update").
 */
export async function currentDeployment(sysroot: Sysroot, running?: string | null): Promise<CurrentCommit | null> {
  const d = running == null ? runningDeployment(sysroot) : sysroot.deployments().find((x) => x.checksum === running);
  if (!d) return null;
  return { commit: d.checksum, version: await commitVersion(sysroot, d.checksum), deployment: d };
}

/** The `version` metadata of a commit in the sysroot's repository; null for a commit without one (a local build). */
export async function commitVersion(sysroot: Sysroot, checksum: string): Promise<string | null> {
  return withRepo(sysroot, (repo) => {
    const v = readCommit(repo, checksum).metadata.get('version')?.value;
    return typeof v === 'string' ? v : null;
  });
}

/** Runs `fn` with the sysroot's repository open, and closes it after. */
export async function withRepo<T>(sysroot: Sysroot, fn: (repo: Repo) => T | Promise<T>): Promise<T> {
  const repo = await Repo.open(sysrootRepoPath(sysroot));
  try {
    return await fn(repo);
  } finally {
    repo.close();
  }
}

export function sysrootRepoPath(sysroot: Sysroot): string {
  return join(sysroot.path, 'ostree/repo');
}
