import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { run } from '../../../common/exec.js';
import { downloadFile } from '../../../common/http.js';
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
      // systemd-sysv: a board boots its image with systemd, and `ota lock` refuses a board image without it.
      await writeFile(manifest, `name: board-test\narch: ${board.arch}\nboard: ${name}\npackages: [systemd-sysv]\nsources:\n  - uri: host\n${suites ? `    suites: [${suites.join(', ')}]\n` : ''}`);
      const r = await lock({ manifestPath: manifest, cacheDir: testCacheDir() });
      for (const p of packages) expect(r.text).toMatch(new RegExp(`^Package: ${p.replace(/[+.]/g, '\\$&')}$`, 'm'));
      const header = readLock(r.text, 'lock').header;
      expect(header.board?.components).toEqual(board.firmware.components);
      for (const c of board.firmware.components) expect(header.sources.some((s) => s.components.includes(c)), `a source read ${c}`).toBe(true);
      locks.set(name, r.text);
    }, 120_000);

    // No hardware here: what a board copies onto its partitions must at least be in the real
    // packages it locks, and its device trees in the real kernel (the image would otherwise be
    // refused by ota image, or not boot).
    it(`${name}: every file it installs and every device tree it names is in those packages`, async () => {
      const { board } = await loadBoard(name);
      const text = locks.get(name);
      if (!text) throw new Error('the lock test above failed');
      const lockfile = readLock(text, 'lock');
      const bl = board.bootloader;
      const wanted = [...(bl.type === 'uboot' ? [...bl.install.map((f) => f.from), ...bl.raw.map((f) => f.from)] : []), ...board.firmware.install.map((f) => f.from)]
        .filter((f) => !f.startsWith('board:') && !f.startsWith('dtb:'));
      const trees = [...board.kernel.devicetrees, ...board.firmware.install.map((f) => f.from).filter((f) => f.startsWith('dtb:')).map((f) => f.slice(4))];
      const names = [...boardPackages(board), ...[...lockfile.packages.keys()].filter((n) => /^linux-image-\d/.test(n))];
      const files = new Set<string>();
      for (const n of new Set(names)) {
        if (!wanted.length && !trees.length) break;
        const c = lockfile.packages.get(n);
        if (!c?.sha256) continue;
        const deb = join(testCacheDir(), 'debs', `${c.sha256}.deb`);
        if (!existsSync(deb)) {
          await mkdir(dirname(deb), { recursive: true });
          expect((await downloadFile(`${c.origin.uri}/${c.filename}`, deb, { expectedSize: c.size!, expectedSha256: c.sha256 })).status).toBe('ok');
        }
        for (const line of (await run('list the deb', ['dpkg-deb', '--fsys-tarfile', deb], { binary: true }).then((r) => run('tar t', ['tar', '-t'], { input: r.stdout }))).stdout.split('\n')) {
          // merged /usr: a package's /lib/... is /usr/lib/... on the image
          files.add(`/${line.replace(/^\.\//, '').replace(/\/$/, '')}`.replace(/^\/(lib|bin|sbin)\//, '/usr/$1/'));
        }
      }
      for (const f of wanted) expect(files.has(f), `${f} in ${names.join(', ')}`).toBe(true);
      for (const t of trees) expect([...files].some((f) => new RegExp(`^/usr/lib/linux-image-[^/]+/${t.replace(/[.+]/g, '\\$&')}$`).test(f)), `device tree ${t} in the kernel`).toBe(true);
    }, 300_000);
  }
});

const locks = new Map<string, string>();
