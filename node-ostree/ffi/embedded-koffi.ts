import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../../common/atomic-write.js';
import { OtaError } from '../../common/errors.js';
import { privateDir, runtimeDir } from '../../common/runtime-dir.js';

export { runtimeDir } from '../../common/runtime-dir.js';

/**
 * koffi's native module inside the one-file agent (docs/agent.md, "Shipping the agent"). The
 * build points koffi's per-platform package (`@koromix/koffi-linux-*`, which koffi requires to
 * find its module) at this loader, so koffi itself is bundled untouched. A native module can only
 * be loaded from a file: the bytes are checked against the build's SHA-256 and written once to a
 * private runtime folder under a name made of it, atomically, and loaded from there; a later start
 * finds the file, checks that it holds the same bytes and loads it. Nothing here runs until
 * something needs libostree: the relay never does.
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
  const dir = runtimeDir();
  const file = join(dir, `koffi-${m.sha256}.node`);
  // A start that finds the file compares bytes (a memcmp); only a write hashes them, so every start of a
  // worker does not hash a megabyte twice: the file was checked against the build's hash when written.
  // Either way the folder is proven private before the file is loaded: nobody else could have put it there.
  if (holds(file, bytes)) {
    privateDir(dir);
  } else {
    const actual = sha256(bytes);
    if (actual !== m.sha256) throw new Error(`the embedded koffi module hashes to ${actual}, the build recorded ${m.sha256}: this is a bug`);
    privateDir(dir);
    writeFileAtomicSync(file, bytes, 0o500);
  }
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

/** The file is there and holds exactly these bytes (a crash never leaves a torn one: it is renamed into place). */
function holds(file: string, bytes: Uint8Array): boolean {
  try {
    return readFileSync(file).equals(bytes);
  } catch {
    return false;
  }
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
