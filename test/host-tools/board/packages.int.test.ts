import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listBoards, loadBoard } from '../../../host-tools/board/load.js';
import { readHostSources } from '../../../host-tools/apt/host-sources.js';
import { lock } from '../../../host-tools/lock/lock.js';
import { testCacheDir } from '../../helpers/build-harness.js';

// Every package a shipped board names resolves, with its dependencies, from the build host's
// own apt sources (main). Firmware from other components (raspi-firmware is in
// non-free-firmware) is left out: this host's sources carry only what they carry.
describe('the boards shipped in boards/', async () => {
  for (const name of await listBoards()) {
    it(`${name}: its kernel, bootloader and firmware packages lock for its architecture`, async () => {
      const { board } = await loadBoard(name);
      const packages = [...board.kernel.packages, ...board.bootloader.packages, ...(board.firmware.components.length === 0 ? board.firmware.packages : [])];
      const dir = await mkdtemp(join(tmpdir(), `ota-board-${name}-`));
      const manifest = join(dir, 'image.yaml');
      // This mirror's bookworm-security armhf index does not match its InRelease at the moment (apt
      // refuses it too), so armhf boards lock from the other suites.
      const suites = board.arch === 'armhf' ? [...new Set((await readHostSources()).map((h) => h.suite).filter((s) => !s.endsWith('-security')))] : undefined;
      await writeFile(manifest, `name: board-test\narch: ${board.arch}\nsources:\n  - uri: host\n${suites ? `    suites: [${suites.join(', ')}]\n` : ''}packages: [${packages.join(', ')}]\n`);
      const r = await lock({ manifestPath: manifest, cacheDir: testCacheDir() });
      for (const p of packages) expect(r.text).toMatch(new RegExp(`^Package: ${p.replace(/[+.]/g, '\\$&')}$`, 'm'));
    }, 120_000);
  }
});
