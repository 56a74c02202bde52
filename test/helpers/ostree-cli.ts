import { readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run, type RunOptions } from '../../common/exec.js';

/**
 * The `ostree` CLI as the reference the node-ostree integration tests check the binding
 * against, plus clean-up of directories that hold deployments (libostree marks each deployment
 * root immutable, so a plain recursive rm fails on them).
 */
const env = { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' };

/** Runs `ostree ARGS...` and returns its stdout. */
export async function ostree(args: string[], options: RunOptions = {}): Promise<string> {
  const res = await run(`ostree ${args.find((a) => !a.startsWith('-')) ?? ''}`, ['ostree', ...args], { env, ...options });
  return res.stdout;
}

/** Exit code and output of `ostree ARGS...` when failing is an expected outcome. */
export async function ostreeStatus(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(`ostree ${args[0] ?? ''}`, ['ostree', ...args], { env, okCodes: Array.from({ length: 256 }, (_, i) => i) });
}

/** One line of `ostree ls -R`: type+mode, uid, gid, size, path (and symlink target). */
export interface LsEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  path: string;
  target?: string;
}

/** `ostree ls -R REV` parsed, sorted by path. */
export async function ostreeLs(repo: string, rev: string): Promise<LsEntry[]> {
  const out = await ostree([`--repo=${repo}`, 'ls', '-R', rev]);
  const entries: LsEntry[] = [];
  for (const line of out.split('\n')) {
    const m = /^([-dl])([0-7]{5}) (\d+) (\d+) +\d+ (.*?)(?: -> (.*))?$/.exec(line);
    if (!m) continue;
    entries.push({ type: m[1]!, mode: parseInt(m[2]!, 8), uid: Number(m[3]), gid: Number(m[4]), path: m[5]!, ...(m[6] !== undefined ? { target: m[6] } : {}) });
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Removes a test directory, first clearing the immutable flag libostree sets on deployment roots. */
export async function removeTree(dir: string): Promise<void> {
  const deployRoot = join(dir, 'ostree', 'deploy');
  const sysroots = existsSync(deployRoot) ? [dir] : [];
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    if (existsSync(join(dir, entry, 'ostree', 'deploy'))) sysroots.push(join(dir, entry));
  }
  for (const sr of sysroots) {
    for (const os of await readdir(join(sr, 'ostree', 'deploy'))) {
      const deploys = join(sr, 'ostree', 'deploy', os, 'deploy');
      for (const d of await readdir(deploys).catch(() => [] as string[])) {
        if (!d.endsWith('.origin')) await run('chattr -i', ['chattr', '-i', join(deploys, d)], { okCodes: [0, 1] });
      }
    }
  }
  await rm(dir, { recursive: true, force: true });
}
