import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../../common/atomic-write.js';
import { OtaError } from '../../common/errors.js';

/**
 * koffi's native module inside the one-file agent (docs/agent.md, "Shipping the agent"). The
 * build points koffi's per-platform package (`@koromix/koffi-linux-*`, which koffi requires to
 * find its module) at this loader, so koffi itself is bundled untouched. A native module can only
 * be loaded from a file: the bytes are written once to a private runtime folder under a name made
 * of their SHA-256, atomically, and loaded from there; a later start finds the file, checks its
 * hash and loads it. Nothing here runs until something needs libostree: the relay never does.
 *
 * @example
 * module.exports = loadEmbeddedKoffi({ bytes: () => seaAsset('koffi.node'), sha256: '<hex>' });
 */
export interface EmbeddedModule {
  /** The module's bytes (an asset of the executable, or a string in the bundle). */
  bytes: () => Uint8Array;
  /** Their SHA-256 as the build computed it, in hex. */
  sha256: string;
}

export function loadEmbeddedKoffi(m: EmbeddedModule): unknown {
  const bytes = m.bytes();
  const actual = sha256(bytes);
  if (actual !== m.sha256) throw new Error(`the embedded koffi module hashes to ${actual}, the build recorded ${m.sha256}: this is a bug`);
  const dir = privateDir(runtimeDir());
  const file = join(dir, `koffi-${actual}.node`);
  if (!holds(file, actual)) writeFileAtomicSync(file, bytes, 0o500);
  const module = { exports: {} as unknown };
  try {
    process.dlopen(module, file);
  } catch (e) {
    throw new OtaError('ERR_OTA_IO', `loading koffi's native module from ${file}: ${e instanceof Error ? e.message : String(e)}`, {
      hint: 'the folder must allow executing mapped files (not mounted noexec); set OTA_AGENT_RUNTIME_DIR to another folder',
      cause: e,
    });
  }
  return module.exports;
}

/**
 * Where the module is written: OTA_AGENT_RUNTIME_DIR when set; systemd's RuntimeDirectory= (its
 * first path); /run/ota-agent for root; else the user's runtime folder or a folder of their own in
 * the temporary folder.
 */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OTA_AGENT_RUNTIME_DIR) return env.OTA_AGENT_RUNTIME_DIR;
  if (env.RUNTIME_DIRECTORY) return join(env.RUNTIME_DIRECTORY.split(':')[0]!, 'native');
  if (process.geteuid?.() === 0) return '/run/ota-agent';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'ota-agent');
  return join(tmpdir(), `ota-agent-${process.geteuid?.() ?? 'user'}`);
}

/** The folder, made 0700 if missing, and refused unless it is a real folder of ours that no one else can write. */
function privateDir(dir: string): string {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new OtaError('ERR_OTA_IO', `making the agent's runtime folder ${dir}: ${(e as Error).message}`, { hint: 'set OTA_AGENT_RUNTIME_DIR to a folder the agent may create', cause: e });
    }
  }
  const st = lstatSync(dir);
  const mine = process.geteuid === undefined || st.uid === process.geteuid();
  if (!st.isDirectory() || !mine || (st.mode & 0o077) !== 0) {
    throw new OtaError('ERR_OTA_IO', `the agent's runtime folder ${dir} is not a private folder of this user (mode ${(st.mode & 0o777).toString(8)}, owner ${st.uid})`, {
      hint: `remove it, or make it a folder of this user with mode 0700; a native module is never loaded from a folder others can write`,
    });
  }
  return dir;
}

/** The file is there and holds exactly these bytes (a crash never leaves a torn one: it is renamed into place). */
function holds(file: string, hash: string): boolean {
  try {
    return sha256(readFileSync(file)) === hash;
  } catch {
    return false;
  }
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
