import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish } from '../../../host-tools/publish/publish.js';
import { otaRejection } from '../../helpers/errors.js';
import { buildRepo, hashTree, releaseKey, type BuildRepo } from './harness.js';

// A publish carries the anti-rollback floor forward from the newest release's manifest. When
// that manifest is gone, the floor is unknown: the publish is refused, naming the file, instead
// of writing a release without a floor; and the directory is left as it was.

const REF = 'gw/arm64';
let dir: string;
let b: BuildRepo;
let key: Awaited<ReturnType<typeof releaseKey>>;
let pub: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-publish-damaged-'));
  b = await buildRepo(dir);
  key = await releaseKey(join(dir, 'keys'));
  pub = join(dir, 'pub');
  await b.build(REF, [{ name: 'bash', version: '5.2-1' }]);
  await publish({ repoPath: b.path, to: pub, key: key.dir, ref: REF, version: '2.0', minVersion: '1.5' });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('publish over a damaged published directory', () => {
  it('refuses when the newest release manifest is missing, since its floor would be lost', async () => {
    await rm(join(pub, 'releases', REF, '2.0.jws'));
    await b.build(REF, [{ name: 'bash', version: '5.2-2' }]);
    const before = await hashTree(pub);
    const e = await otaRejection(publish({ repoPath: b.path, to: pub, key: key.dir, ref: REF, version: '2.1' }));
    expect(e.code).toBe('ERR_OTA_PUBLISHED');
    expect(e.message).toContain(`the manifest of ${REF} 2.0, the newest release, is missing or unreadable (releases/${REF}/2.0.jws)`);
    expect(e.hint).toContain('ota verify');
    expect(await hashTree(pub)).toEqual(before);
  });
});
