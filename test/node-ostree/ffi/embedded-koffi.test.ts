import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadEmbeddedKoffi, runtimeDir } from '../../../node-ostree/ffi/embedded-koffi.js';

// The loader of the one-file agent's koffi module (docs/agent.md, "Shipping the agent"): what it
// refuses, before anything is written or loaded. Loading the real module is proven by the
// executables themselves (test/scripts/build-agent/executable.int.test.ts).

const bytes = new TextEncoder().encode('not really a module');
const sha256 = '0'.repeat(64);
const right = createHash('sha256').update(bytes).digest('hex');
let tmp: string | undefined;
afterEach(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
  tmp = undefined;
});

async function withRuntime<T>(dir: string, f: () => T): Promise<T> {
  const saved = process.env.OTA_AGENT_RUNTIME_DIR;
  process.env.OTA_AGENT_RUNTIME_DIR = dir;
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env.OTA_AGENT_RUNTIME_DIR;
    else process.env.OTA_AGENT_RUNTIME_DIR = saved;
  }
}

describe('the embedded koffi loader', () => {
  it('refuses bytes that are not what the build recorded, and writes nothing', async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ota-koffi-'));
    const dir = join(tmp, 'run');
    await withRuntime(dir, () => expect(() => loadEmbeddedKoffi({ bytes: () => bytes, sha256 })).toThrow(/this is a bug/));
    expect(await readdir(tmp)).toEqual([]);
  });

  it('refuses a runtime folder others can write, or a link to one, and writes nothing in it', async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ota-koffi-'));
    const open = join(tmp, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    await withRuntime(open, () => expect(() => loadEmbeddedKoffi({ bytes: () => bytes, sha256: right })).toThrow(/not a private folder/));
    expect(await readdir(open)).toEqual([]);
    const link = join(tmp, 'link');
    await symlink(open, link);
    await withRuntime(link, () => expect(() => loadEmbeddedKoffi({ bytes: () => bytes, sha256: right })).toThrow(/not a private folder/));
    expect(await readdir(open)).toEqual([]);
  });

  it('writes the module once under its hash into a 0700 folder it makes, then fails to load a file that is no module with a hint', async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ota-koffi-'));
    const dir = join(tmp, 'run');
    await withRuntime(dir, () => expect(() => loadEmbeddedKoffi({ bytes: () => bytes, sha256: right })).toThrow(/loading koffi's native module/));
    expect(await readdir(dir)).toEqual([`koffi-${right}.node`]);
  });

  it('rewrites a file under the name that holds other bytes, and refuses the right file once its folder is open to others', async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ota-koffi-'));
    const dir = join(tmp, 'run');
    await mkdir(dir, { mode: 0o700 });
    const file = join(dir, `koffi-${right}.node`);
    await writeFile(file, 'other bytes');
    await withRuntime(dir, () => expect(() => loadEmbeddedKoffi({ bytes: () => bytes, sha256: right })).toThrow(/loading koffi's native module/));
    expect(new Uint8Array(await readFile(file))).toEqual(bytes);
    await chmod(dir, 0o777);
    await withRuntime(dir, () => expect(() => loadEmbeddedKoffi({ bytes: () => bytes, sha256: right })).toThrow(/not a private folder/));
  });

  it('picks the runtime folder: the override, systemd\'s RuntimeDirectory=, /run for root', () => {
    expect(runtimeDir({ OTA_AGENT_RUNTIME_DIR: '/x', RUNTIME_DIRECTORY: '/run/a' })).toBe('/x');
    expect(runtimeDir({ RUNTIME_DIRECTORY: '/run/ota-agent:/run/other' })).toBe('/run/ota-agent/native');
    if (process.geteuid?.() === 0) expect(runtimeDir({})).toBe('/run/ota-agent');
  });
});
