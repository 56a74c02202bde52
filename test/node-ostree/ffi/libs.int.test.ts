import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';

// A fresh node process (under tsx, on the sources) imports the package's root API (lock,
// manifest, build ...), its bootloader and contract subpaths and the bundle reader (which the agent's idle daemon
// imports through device-agent/update/), then reads its own /proc/self/maps: koffi's
// addon and libostree must not be mapped. Then it opens a repository through node-ostree, after
// which both must be: the control that shows the probe can see them at all.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const PROBE = `
import { readFileSync } from 'node:fs';
const [root, repoDir] = process.argv.slice(2);
const mapped = () => {
  const maps = readFileSync('/proc/self/maps', 'utf8');
  return { koffi: /koffi[^\\n]*\\.node$/m.test(maps), libostree: /libostree-1\\.so/.test(maps) };
};
const api = await import(root + 'host-tools/index.ts');
const bootloader = await import(root + 'bootloader/index.ts');
const contract = await import(root + 'contract/index.ts');
const bundle = await import(root + 'bundle/index.ts');
const manifestError = (() => { try { api.parseManifest('packages: [app]\\n', 'image.yaml'); } catch (e) { return e.code; } })();
const afterImport = mapped();
const { Repo } = await import(root + 'node-ostree/index.ts');
(await Repo.create(repoDir, 'bare-user')).close();
console.log(JSON.stringify({ afterImport, afterUse: mapped(), manifestError, lock: typeof api.lock, bootloader: typeof bootloader.ubootBackend, contract: typeof contract.readSigned, bundle: typeof bundle.openBundle }));
`;

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-lazy-ffi-'));
  await writeFile(join(dir, 'probe.mjs'), PROBE);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('native libraries load on first use', () => {
  it('importing the lock, manifest, bootloader, contract and bundle API maps neither koffi nor libostree; opening a repository maps both', async () => {
    const { stdout } = await run('probe what an import loads', [process.execPath, '--import', 'tsx', join(dir, 'probe.mjs'), ROOT, join(dir, 'repo')], { cwd: ROOT });
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(r).toEqual({
      afterImport: { koffi: false, libostree: false },
      afterUse: { koffi: true, libostree: true },
      manifestError: 'ERR_OTA_MANIFEST',
      lock: 'function',
      bootloader: 'function',
      contract: 'function',
      bundle: 'function',
    });
  });
});
