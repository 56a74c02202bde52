import { lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OtaError } from './errors.js';

// The one-file agent's private runtime folder (docs/agent.md, "Shipping the agent"): where its
// workers write koffi's native module (node-ostree/ffi/embedded-koffi.ts) and the CLI's code cache
// (device-agent/sea/code-cache.ts).

/**
 * Where the module and the cache are written: OTA_AGENT_RUNTIME_DIR when set; systemd's RuntimeDirectory= (its
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
export function privateDir(dir: string): string {
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
