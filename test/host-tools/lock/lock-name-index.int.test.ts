import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lock } from '../../../host-tools/lock/lock.js';
import { buildArchive, disposeGpgKey, makeGpgKey, serveDirectory, type FixtureServer, type GpgKey } from '../../helpers/fixture-archive.js';
import { mirrorEnv, workspace, writeManifest, type Workspace } from '../../helpers/lock-harness.js';

let tmp: string;
let key: GpgKey;
let server: FixtureServer;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-lock-idx-'));
  key = await makeGpgKey(tmp);
  const archive = await buildArchive(
    path.join(tmp, 'archive'),
    [{ suite: 'stable', arches: ['amd64'], components: { main: [{ name: 'hello', version: '2.10-3' }, { name: 'most', version: '5.2-1' }, { name: 'base', version: '1', essential: true }] } }],
    { key },
  );
  server = await serveDirectory(archive.root);
}, 30_000);

afterAll(async () => {
  await server?.close();
  if (key) await disposeGpgKey(key);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A minbase lock reads the Essential and required lists of the name index, as well as the names. */
async function lockHello(ws: Workspace, offline = false): Promise<string> {
  await writeManifest(ws.manifest, { variant: 'minbase', sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['hello'] });
  return (await lock({ manifestPath: ws.manifest, cacheDir: ws.cacheDir, env: mirrorEnv(server.url), offline })).text;
}

/** Edits the one cached name index (`<key>.idx.json`) of the workspace's cache. */
async function editNameIndex(ws: Workspace, edit: (idx: Record<string, unknown> & { stanzas: Record<string, number[]> }) => unknown): Promise<void> {
  const dir = path.join(ws.cacheDir, 'indices');
  const name = (await readdir(dir)).find((n) => n.endsWith('.idx.json'))!;
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(edit(JSON.parse(await readFile(file, 'utf8')) as never)));
}

describe('ota lock --offline with an edited name index in the cache (real lock against a fixture archive)', () => {
  it('locks hello, not the package whose stanza the edited index points hello at', async () => {
    const ws = await workspace(tmp, 'moved');
    const good = await lockHello(ws);
    expect(good).toMatch(/hello[\s\S]*2\.10-3/);
    expect(good).toContain('base');
    await editNameIndex(ws, (idx) => ({ ...idx, stanzas: { ...idx.stanzas, hello: idx.stanzas.most } }));
    await rm(ws.lockPath);
    expect(await lockHello(ws, true)).toBe(good);
  });

  it('rebuilds an index whose Essential list is not a list instead of failing with an internal error', async () => {
    const ws = await workspace(tmp, 'badvalue');
    const good = await lockHello(ws);
    await editNameIndex(ws, (idx) => ({ ...idx, essential: 5 }));
    await rm(ws.lockPath);
    expect(await lockHello(ws, true)).toBe(good);
  });
});
