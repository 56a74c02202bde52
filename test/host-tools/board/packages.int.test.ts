import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listBoards, loadBoard } from '../../../host-tools/board/load.js';
import { readHostSources } from '../../../host-tools/apt/host-sources.js';
import { lock } from '../../../host-tools/lock/lock.js';
import { readLock } from '../../../host-tools/lock/lockfile.js';
import { boardPackages } from '../../../host-tools/board/packages.js';
import { testCacheDir } from '../../helpers/build-harness.js';

// Every package a shipped board adds resolves, with its dependencies, from the build host's own
// apt sources, as `ota lock` reads them for a manifest naming the board: the firmware from the
// components the board asks for besides the host's (raspi-firmware is in non-free-firmware,
// which the host's sources leave out) included.
describe('the boards shipped in boards/', async () => {
  for (const name of await listBoards()) {
    it(`${name}: its kernel, initramfs, bootloader and firmware packages lock for its architecture`, async () => {
      const { board } = await loadBoard(name);
      const packages = boardPackages(board);
      const dir = await mkdtemp(join(tmpdir(), `ota-board-${name}-`));
      const manifest = join(dir, 'image.yaml');
      // This mirror's bookworm-security armhf index does not match its InRelease at the moment (apt
      // refuses it too), so armhf boards lock from the other suites.
      const suites = board.arch === 'armhf' ? [...new Set((await readHostSources()).map((h) => h.suite).filter((s) => !s.endsWith('-security')))] : undefined;
      await writeFile(manifest, `name: board-test\narch: ${board.arch}\nboard: ${name}\nsources:\n  - uri: host\n${suites ? `    suites: [${suites.join(', ')}]\n` : ''}`);
      const r = await lock({ manifestPath: manifest, cacheDir: testCacheDir() });
      for (const p of packages) expect(r.text).toMatch(new RegExp(`^Package: ${p.replace(/[+.]/g, '\\$&')}$`, 'm'));
      const header = readLock(r.text, 'lock').header;
      expect(header.board?.components).toEqual(board.firmware.components);
      for (const c of board.firmware.components) expect(header.sources.some((s) => s.components.includes(c)), `a source read ${c}`).toBe(true);
    }, 120_000);
  }
});
