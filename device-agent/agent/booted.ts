/**
 * Which deployment runs, where libostree cannot tell (docs/agent.md, "Joining the parts"): libostree finds a
 * booted deployment only when the sysroot is `/` of a system OSTree booted. Elsewhere (a sysroot in a folder,
 * in tests and image builds) the agent reads `ostree=` from the kernel command line and resolves it inside the
 * sysroot as ostree-prepare-root does at boot: `/ostree/boot.N/<os>/<bootcsum>/<serial>` is a symlink to
 * `ostree/deploy/<os>/deploy/<checksum>.<serial>`, and that folder's name holds the commit.
 *
 * @example
 * parseOstreeArg('root=LABEL=root ostree=/ostree/boot.1/debian/ab12/0 quiet'); // '/ostree/boot.1/debian/ab12/0'
 * await resolveDeployment('/tmp/dev/sysroot', '/ostree/boot.1/debian/ab12/0'); // { osname: 'debian', checksum, serial: 0 }
 */
import { lstat, readFile, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { OtaError } from '../../common/errors.js';

export interface BootedDeployment {
  osname: string;
  checksum: string;
  serial: number;
}

/** Symlinks followed before the path is called a loop (the kernel's own limit). */
const MAX_LINKS = 40;
const DEPLOY_PATH = /^ostree\/deploy\/([A-Za-z0-9][A-Za-z0-9._-]*)\/deploy\/([0-9a-f]{64})\.(\d+)$/;

/**
 * The value of the first `ostree=` argument of a kernel command line (as ostree-prepare-root takes it), or null
 * when there is none. Quotes around the whole argument are dropped, as the kernel drops them.
 */
export function parseOstreeArg(cmdline: string): string | null {
  for (const raw of cmdline.trim().split(/\s+/)) {
    const arg = raw.replace(/^"(.*)"$/, '$1');
    if (arg.startsWith('ostree=')) return arg.slice('ostree='.length);
  }
  return null;
}

/**
 * Where `path` leads inside `root`, as if `root` were `/`: every symlink on the way is followed, an absolute
 * target starts again at `root`, and `..` never leaves it. Returns the path relative to `root`.
 */
export async function resolveInside(root: string, path: string): Promise<string> {
  let pending = posix.normalize(`/${path}`).split('/').filter((p) => p !== '');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const here = posix.join(root, ...done, part);
    const st = await lstat(here);
    if (!st.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw new OtaError('ERR_OTA_OSTREE', `too many symlinks resolving ${path} in ${root}`);
    const target = await readlink(here);
    if (target.startsWith('/')) done.length = 0;
    pending = [...target.split('/').filter((p) => p !== ''), ...pending];
  }
  return done.join('/');
}

/** The deployment an `ostree=` value leads to inside the sysroot; an OtaError when it leads anywhere else. */
export async function resolveDeployment(sysroot: string, ostreeArg: string): Promise<BootedDeployment> {
  let rel: string;
  try {
    rel = await resolveInside(sysroot, ostreeArg);
  } catch (e) {
    if (e instanceof OtaError) throw e;
    throw notADeployment(sysroot, ostreeArg, (e as Error).message, e);
  }
  const m = DEPLOY_PATH.exec(rel);
  if (m === null) throw notADeployment(sysroot, ostreeArg, `it leads to ${rel === '' ? '/' : rel}`);
  return { osname: m[1]!, checksum: m[2]!, serial: Number(m[3]) };
}

/**
 * The commit the kernel command line in `cmdlinePath` says runs: null when the file is missing or has no
 * `ostree=` (nothing OSTree booted is known), an OtaError when `ostree=` names no deployment of the sysroot.
 */
export async function bootedFromCommandLine(options: { sysroot: string; cmdlinePath: string }): Promise<BootedDeployment | null> {
  let text: string;
  try {
    text = await readFile(options.cmdlinePath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new OtaError('ERR_OTA_IO', `cannot read the kernel command line ${options.cmdlinePath}: ${(e as Error).message}`, { cause: e });
  }
  const arg = parseOstreeArg(text);
  return arg === null ? null : resolveDeployment(options.sysroot, arg);
}

function notADeployment(sysroot: string, arg: string, why: string, cause?: unknown): OtaError {
  return new OtaError('ERR_OTA_OSTREE', `ostree=${arg} names no deployment in ${sysroot}: ${why}`, {
    hint: 'the kernel command line (kernelCommandLine in the agent configuration) must come from one of the sysroot\'s boot entries; see docs/agent.md, "Configuration"',
    cause,
  });
}
