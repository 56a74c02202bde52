import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ota } from '../../helpers/cli.js';
import { hashTree, buildRepo, releaseKey, type BuildRepo } from './harness.js';

// ota publish and ota log through the CLI: the summary line, the JSON documents of
// docs/cli-json.md, a refusal's exit code, and the log newest first with package changes.

const REF = 'gw/arm64';
let dir: string;
let b: BuildRepo;
let keyDir: string;
let pub: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-publish-cli-'));
  b = await buildRepo(dir);
  keyDir = (await releaseKey(join(dir, 'keys'))).dir;
  pub = join(dir, 'pub');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const publishArgs = (version: string, ...more: string[]) => ['publish', '--repo', b.path, '--to', pub, '--key', keyDir, '--ref', REF, '--version', version, ...more];

describe('ota publish and ota log', () => {
  it('publish prints a one-line summary, or with --json the result document', async () => {
    await b.build(REF, [{ name: 'libc6', version: '2.36-9' }, { name: 'bash', version: '5.2-1' }]);
    const first = await ota(...publishArgs('1.0', '--group', 'lab'));
    expect(first.code, first.err).toBe(0);
    expect(first.out).toHaveLength(1);
    expect(first.out[0]).toMatch(/^published gw\/arm64 1\.0: commit [0-9a-f]{12}, no deltas, full pull [\d.]+ KiB, 2 packages, in [\d.]+s$/);
    expect(first.err).toMatch(/publish \[\d+\/\d+\]: writing the release manifest/);

    await b.build(REF, [{ name: 'libc6', version: '2.36-10' }, { name: 'curl', version: '7.88' }]);
    const second = await ota(...publishArgs('1.1', '--json', '--expires', '30d'));
    expect(second.code, second.err).toBe(0);
    const doc = JSON.parse(second.out.join('\n')) as Record<string, unknown>;
    expect(doc).toMatchObject({ ref: REF, version: '1.1', previousVersion: '1.0', packages: 2, changes: { added: 1, removed: 1, changed: 1 }, created: false, groupPath: null });
    expect((doc.deltas as { fromVersion: string; bytes: number }[]).map((d) => d.fromVersion)).toEqual(['1.0']);
    expect(doc.commit).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a refused publish exits 2 with the reason and writes nothing', async () => {
    const before = await hashTree(pub);
    const r = await ota(...publishArgs('0.9', '--json'));
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out.join('\n'))).toMatchObject({ error: { code: 'ERR_OTA_USAGE', message: expect.stringMatching(/below the latest published version 1\.1/) as unknown } });
    expect((await ota(...publishArgs('2', '--expires', 'soon'))).code).toBe(2);
    expect(await hashTree(pub)).toEqual(before);
  });

  it('log lists the versions newest first with their package changes', async () => {
    const text = await ota('log', '--to', pub, REF);
    expect(text.code, text.err).toBe(0);
    expect(text.out[0]).toMatch(/^1\.1 {2}\d{4}-\d\d-\d\dT[\d:]+Z {2}[0-9a-f]{12} {2}build 2$/);
    expect(text.out).toContain('    + curl 7.88');
    expect(text.out).toContain('    - bash 5.2-1');
    expect(text.out).toContain('    ~ libc6 2.36-9 -> 2.36-10');
    expect(text.out.filter((l) => /^\d/.test(l)).map((l) => l.split(' ')[0])).toEqual(['1.1', '1.0']);
    const json = await ota('log', '--to', pub, REF, '--json');
    const doc = JSON.parse(json.out.join('\n')) as { ref: string; versions: { version: string; commit: string; changes: { previousVersion: string | null } }[] };
    expect(doc.versions.map((v) => [v.version, v.changes.previousVersion])).toEqual([['1.1', '1.0'], ['1.0', null]]);
    const missing = await ota('log', '--to', pub, 'other/ref');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/other\/ref is not published .*\nhint: published refs: gw\/arm64/);
  });
});
