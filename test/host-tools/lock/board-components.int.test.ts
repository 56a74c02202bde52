import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLock } from '../../../host-tools/lock/check.js';
import { lock } from '../../../host-tools/lock/lock.js';
import { BOARD_YAML, boardPackages } from '../../helpers/board-fixture.js';
import { otaRejection } from '../../helpers/errors.js';
import { buildArchive, disposeGpgKey, makeGpgKey, serveDirectory, type BuiltArchive, type FixturePackage, type FixtureServer, type GpgKey } from '../../helpers/fixture-archive.js';
import { expectMatchesDebs, listDir, mirrorEnv, parseLockText, workspace, writeManifest, type TestManifest, type Workspace } from '../../helpers/lock-harness.js';

// A board's `firmware.components` against a real signed archive on 127.0.0.1: `stable`'s Release
// lists `main non-free-firmware` and the firmware package is only in non-free-firmware; `extra`
// lists only `main`. The lock reads the board's component wherever a suite offers it, from
// explicit sources and `uri: host` ones alike, and says so in the lockfile.

const firmware: FixturePackage = { name: 'fx-firmware', version: '1.0-1', arch: 'all', section: 'non-free-firmware/kernel', files: { '/usr/lib/fx-firmware/start.elf': 'gpu\n' } };
const tool: FixturePackage = { name: 'fx-tool', version: '1.0-1' };
const FIRMWARE = '{ packages: [fx-firmware], components: [non-free-firmware] }';

let tmp: string;
let key: GpgKey;
let archive: BuiltArchive;
let server: FixtureServer;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-board-components-'));
  key = await makeGpgKey(tmp);
  archive = await buildArchive(
    path.join(tmp, 'archive'),
    [
      { suite: 'stable', arches: ['amd64'], components: { main: boardPackages('amd64', '6.1.0-1'), 'non-free-firmware': [firmware] } },
      { suite: 'extra', arches: ['amd64'], components: { main: [tool] } },
    ],
    { key },
  );
  server = await serveDirectory(archive.root);
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (key) await disposeGpgKey(key);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A workspace whose boards/fxboard/board.yaml is the fixture board with `firmware` (YAML), if given. */
async function boardWorkspace(name: string, firmwareYaml?: string): Promise<Workspace & { boardsDir: string; setFirmware: (yaml?: string) => Promise<void> }> {
  const ws = await workspace(tmp, name);
  const boardsDir = path.join(ws.dir, 'boards');
  await mkdir(path.join(boardsDir, 'fxboard'), { recursive: true });
  const setFirmware = (yaml?: string) => writeFile(path.join(boardsDir, 'fxboard/board.yaml'), BOARD_YAML('amd64') + (yaml ? `firmware: ${yaml}\n` : ''));
  await setFirmware(firmwareYaml);
  return { ...ws, boardsDir, setFirmware };
}

const explicit = (): TestManifest => ({ sources: [{ suites: ['stable', 'extra'], keyring: key.armored }], packages: ['fx-tool'], extra: ['board: fxboard'] });
const run = (ws: Workspace & { boardsDir: string }, etcApt?: string) => lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(server.url), boardsDir: ws.boardsDir, etcApt });

describe("a board's firmware.components", () => {
  it('are read from the suites whose Release lists them, and the lockfile records them', async () => {
    const ws = await boardWorkspace('explicit', FIRMWARE);
    await writeManifest(ws.manifest, explicit());
    const r = await run(ws);
    const parsed = parseLockText(r.text);
    expect(parsed.packages.get('fx-firmware')!.get('Origin-Component')).toBe('non-free-firmware');
    expect(parsed.header.get('Board-Packages')).toBe('fx-linux dracut ostree-boot fx-uboot fx-firmware');
    expect(parsed.header.get('Board-Components')).toBe('non-free-firmware');
    // `extra` does not carry it and is left as it was
    expect(parsed.sources.map((s) => [s[2], s[3]])).toEqual([['stable', 'main,non-free-firmware'], ['extra', 'main']]);
    expectMatchesDebs(parsed, archive);
    expect(await readFile(ws.lockPath, 'utf8')).toBe(r.text);
  });

  it('are what makes the firmware resolvable: without them the lock fails and writes nothing', async () => {
    const ws = await boardWorkspace('without', '{ packages: [fx-firmware] }');
    await writeManifest(ws.manifest, explicit());
    const err = await otaRejection(run(ws));
    expect(err.code).toBe('ERR_OTA_UNKNOWN_PACKAGE');
    expect(err.message).toMatch(/fx-firmware/);
    expect(await listDir(ws.dir)).toEqual(['boards', 'cache', 'image.yaml']);
  });

  it("are added to `uri: host` sources too, from the host's apt sources", async () => {
    const ws = await boardWorkspace('host', FIRMWARE);
    const etcApt = path.join(ws.dir, 'etc/apt');
    await mkdir(path.join(etcApt, 'sources.list.d'), { recursive: true });
    await writeFile(path.join(etcApt, 'sources.list.d/fixture.list'), `deb [signed-by=${key.keyring}] ${server.url} stable main\n`);
    await writeFile(ws.manifest, 'name: fixture-image\narch: amd64\nboard: fxboard\nsources:\n  - uri: host\n');
    const parsed = parseLockText((await run(ws, etcApt)).text);
    expect(parsed.sources.map((s) => [s[0], s[2], s[3]])).toEqual([['host', 'stable', 'main,non-free-firmware']]);
    expect(parsed.packages.get('fx-firmware')!.get('Origin-Component')).toBe('non-free-firmware');
  });

  it('that no source carries fail naming the component, the board and the sources, and leave no lockfile behind', async () => {
    const ws = await boardWorkspace('missing', '{ packages: [fx-firmware], components: [vendor-blobs] }');
    await writeManifest(ws.manifest, explicit());
    const err = await otaRejection(run(ws));
    expect(err.code).toBe('ERR_OTA_SOURCES');
    expect(err.message).toBe(
      `board fxboard needs archive component vendor-blobs (firmware.components), but none of the sources of ${ws.manifest} carries it for amd64; checked: ${server.url} stable, ${server.url} extra`,
    );
    expect(err.hint).toMatch(/vendor-blobs/);
    expect(err.details).toEqual([
      expect.stringMatching(new RegExp(`^sources\\[0\\] .*: ${server.url} stable \\(Components: main non-free-firmware\\)$`)),
      expect.stringMatching(new RegExp(`^sources\\[0\\] .*: ${server.url} extra \\(Components: main\\)$`)),
    ]);
    expect(await listDir(ws.dir)).toEqual(['boards', 'cache', 'image.yaml']);
  });

  it('re-lock when board.yaml changes them, and a change to one no source carries keeps the lock as it was', async () => {
    const ws = await boardWorkspace('change');
    await writeManifest(ws.manifest, explicit());
    const first = await run(ws);
    expect(parseLockText(first.text).header.get('Board-Components')).toBeUndefined();
    await ws.setFirmware('{ packages: [fx-firmware], components: [vendor-blobs] }');
    expect((await otaRejection(run(ws))).code).toBe('ERR_OTA_SOURCES');
    expect(await readFile(ws.lockPath, 'utf8')).toBe(first.text);
    await ws.setFirmware(FIRMWARE);
    const again = await run(ws);
    expect(again.written).toBe(true);
    expect(again.diff?.added).toEqual([{ name: 'fx-firmware', version: '1.0-1' }]);
    expect(parseLockText(again.text).header.get('Board-Components')).toBe('non-free-firmware');
  });
});

describe('Board-SHA256 in a board lock', () => {
  it('is checked against board.yaml: an edited hash, or an edited board.yaml, makes the lock stale', async () => {
    const ws = await boardWorkspace('board-sha', FIRMWARE);
    await writeManifest(ws.manifest, explicit());
    const { text } = await run(ws);
    const check = () => checkLock({ manifestPath: ws.manifest, env: mirrorEnv(server.url), boardsDir: ws.boardsDir });
    expect(await check()).toEqual([]);
    const sha = parseLockText(text).header.get('Board-SHA256')!;
    await writeFile(ws.lockPath, text.replace(`Board-SHA256: ${sha}`, `Board-SHA256: ${'0'.repeat(64)}`));
    expect(await check()).toEqual([`board fxboard's board.yaml has changed since the lock (Board-SHA256 000000000000…, now ${sha.slice(0, 12)}…)`]);
    await writeFile(ws.lockPath, text);
    await writeFile(path.join(ws.boardsDir, 'fxboard/board.yaml'), `${await readFile(path.join(ws.boardsDir, 'fxboard/board.yaml'), 'utf8')}# edited\n`);
    expect(await check()).toEqual([expect.stringMatching(new RegExp(`^board fxboard's board.yaml has changed since the lock \\(Board-SHA256 ${sha.slice(0, 12)}…`))]);
  });
});
