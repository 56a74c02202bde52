import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repo, commitDirectory, generateDelta, pull, regenerateSummary, type PullProgress } from '../../../node-ostree/index.js';
import { startOtaServe, type OtaServe } from '../../helpers/ota-serve.js';

let dir: string;
let published: string;
let v1: string;
let v2: string;
let srv: OtaServe;

/** A device's repository that already holds v1, as one would after its previous update. */
async function deviceAtV1(name: string): Promise<Repo> {
  const r = await Repo.create(join(dir, name), 'bare-user');
  await pull(r, srv.repoUrl, { refs: [v1], disableStaticDeltas: true });
  return r;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-delta-pull-'));
  published = join(dir, 'published');
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'usr/lib'), { recursive: true });
  // Random (incompressible) libraries; v2 changes a few bytes in several of them, as a
  // security update of a package does: the delta sends differences, a plain pull whole files.
  const libs = Array.from({ length: 12 }, () => randomBytes(200_000));
  for (const [i, b] of libs.entries()) await writeFile(join(tree, 'usr/lib', `lib${i}.so`), b);
  const repo = await Repo.create(join(published, 'repo'), 'archive');
  try {
    v1 = (await commitDirectory(repo, tree, { ref: 'os/stable', timestamp: 1 })).checksum;
    for (const i of [1, 4, 7]) {
      const b = Buffer.from(libs[i]!);
      randomBytes(64).copy(b, 1000 * i);
      await writeFile(join(tree, 'usr/lib', `lib${i}.so`), b);
    }
    v2 = (await commitDirectory(repo, tree, { ref: 'os/stable', parent: v1, timestamp: 2 })).checksum;
    await generateDelta(repo, { from: v1, to: v2 });
    await regenerateSummary(repo);
  } finally {
    repo.close();
  }
  await writeFile(join(published, 'ota-published.json'), JSON.stringify({ format: 'deb-ota-published', formatVersion: 1 }));
  srv = await startOtaServe(published, ['-v', '--no-mqtt']);
});

afterAll(async () => {
  await srv?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('a pull over ota serve', () => {
  it('moves fewer bytes through the static delta than the full commit, and than object by object', async () => {
    const full = await Repo.create(join(dir, 'full'), 'bare-user');
    const fullPull: PullProgress = await pull(full, srv.repoUrl, { refs: [v2], disableStaticDeltas: true });
    full.close();
    const objects = await deviceAtV1('objects');
    const objectPull = await pull(objects, srv.repoUrl, { refs: [v2], disableStaticDeltas: true });
    objects.close();
    const delta = await deviceAtV1('delta');
    const deltaPull = await pull(delta, srv.repoUrl, { refs: [v2] });
    expect(deltaPull.deltaPartsFetched).toBeGreaterThan(0);
    expect((await delta.fsck(v2)).objects).toBeGreaterThan(12);
    delta.close();
    console.log(`bytes: full commit ${fullPull.bytes}, object by object from v1 ${objectPull.bytes}, static delta from v1 ${deltaPull.bytes}`);
    expect(deltaPull.bytes).toBeLessThan(fullPull.bytes);
    expect(deltaPull.bytes).toBeLessThan(objectPull.bytes);
    // The server's -v log shows the delta was fetched from it, over HTTP.
    expect(srv.log()).toMatch(/http: GET \/repo\/deltas\/\S+ 200/);
  });
});
