import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish } from '../../../host-tools/publish/publish.js';
import { verifyPublished } from '../../../host-tools/verify/published.js';
import { otaRejection } from '../../helpers/errors.js';
import { buildRepo, hashTree, releaseKey, type BuildRepo } from './harness.js';

// Published directories a first publish killed inside its init step leaves behind (the marker
// written, the repository or keys.jwks not yet), and ones whose keys.jwks was lost: real
// repositories and keys, real publishes.

let dir: string;
let b: BuildRepo;
let key: Awaited<ReturnType<typeof releaseKey>>;
let other: Awaited<ReturnType<typeof releaseKey>>;
let good: string;
const REF = 'gw/arm64';
const MARKER = '{"format": "deb-ota-published", "formatVersion": 1}\n';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-publish-incomplete-'));
  b = await buildRepo(dir);
  key = await releaseKey(join(dir, 'keys'));
  other = await releaseKey(join(dir, 'other-keys'));
  await b.build(REF, [{ name: 'libc6', version: '2.36-9' }]);
  good = join(dir, 'good');
  await publish({ repoPath: b.path, to: good, key: key.dir, ref: REF, version: '1.0' });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ota publish into an incomplete published directory', () => {
  it('completes a directory that holds only the marker, as a killed first publish leaves it', async () => {
    const to = join(dir, 'only-marker');
    await mkdir(to);
    await writeFile(join(to, 'ota-published.json'), MARKER);
    const r = await publish({ repoPath: b.path, to, key: key.dir, ref: REF, version: '1.0' });
    expect(r.steps[0]).toBe('init');
    expect(JSON.parse(await readFile(join(to, 'keys.jwks'), 'utf8')).keys.map((k: { kid: string }) => k.kid)).toEqual([key.kid]);
    expect((await verifyPublished(to, { key: key.dir })).problems).toEqual([]);
  });

  it.each([
    ['missing', undefined],
    ['empty', '{"keys": []}\n'],
    ['not a JWK set', '{}\n'],
  ])('refuses a published directory whose keys.jwks is %s, whatever the key, changing nothing', async (_what, text) => {
    const to = join(dir, `keys-${_what.replace(/ /g, '-')}`);
    await cp(good, to, { recursive: true });
    await rm(join(to, 'keys.jwks'));
    if (text !== undefined) await writeFile(join(to, 'keys.jwks'), text);
    const before = await hashTree(to);
    const e = await otaRejection(publish({ repoPath: b.path, to, key: other.dir, ref: REF, version: '2.0' }));
    expect(e.code).toBe('ERR_OTA_PUBLISHED');
    expect(e.message).toMatch(/keys\.jwks/);
    expect(e.hint).toMatch(/release\.pub\.jwks/);
    expect(await hashTree(to)).toEqual(before);
  });
});
