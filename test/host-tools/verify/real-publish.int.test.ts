import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopGpgAgent } from '../../../host-tools/keys/gpg.js';
import { publish } from '../../../host-tools/publish/publish.js';
import { decodeVariant, encodeVariant, GVariantValue, Repo } from '../../../node-ostree/index.js';
import { verifyPublished } from '../../../host-tools/verify/published.js';
import { ota } from '../../helpers/cli.js';
import { snapshot } from '../../helpers/tree-snapshot.js';
import { buildRepo, releaseKey, type BuildRepo } from '../publish/harness.js';

// ota verify and ota bundle on what `ota publish` really writes (GPG signatures included), so
// the reader and the writer of the published layout cannot drift apart unnoticed.

const REF = 'gw/arm64';
let dir: string;
let b: BuildRepo;
let key: Awaited<ReturnType<typeof releaseKey>>;
let pub: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-verify-publish-'));
  b = await buildRepo(dir);
  key = await releaseKey(join(dir, 'keys'), { gpg: true });
  pub = join(dir, 'pub');
  await b.build(REF, [{ name: 'libc6', version: '2.36-9' }, { name: 'bash', version: '5.2-1' }], { board: 'rpi4' });
  await publish({ repoPath: b.path, to: pub, key: key.dir, ref: REF, version: '1.0', group: 'lab' });
  await b.build(REF, [{ name: 'libc6', version: '2.36-10' }, { name: 'bash', version: '5.2-1' }, { name: 'curl', version: '7.88' }], { board: 'rpi4' });
  await publish({ repoPath: b.path, to: pub, key: key.dir, ref: REF, version: '1.1', group: 'lab' });
});
afterAll(async () => {
  await stopGpgAgent(join(key.dir, 'gpg'));
  await rm(dir, { recursive: true, force: true });
});

describe('ota verify and ota bundle on a real ota publish', () => {
  it('find no problem in a published directory, GPG signatures included', async () => {
    const before = await snapshot(pub);
    const r = await ota('verify', pub, '--key', key.dir, '--json');
    expect(r.code, r.out.join('\n')).toBe(0);
    const doc = JSON.parse(r.out.join('\n'));
    expect(doc).toMatchObject({ kind: 'published', trust: 'key', gpgKeyring: join(key.dir, 'release.gpg'), deltas: 1, releases: 2, groups: 1, problems: [] });
    expect(doc.refs).toEqual([{ ref: REF, head: expect.stringMatching(/^[0-9a-f]{64}$/), commits: 2 }]);
    expect(await snapshot(pub)).toEqual(before);
  });

  it('names a commit whose GPG signature no longer verifies, and nothing else', async () => {
    const copy = join(dir, 'pub-gpg-damaged');
    await cp(pub, copy, { recursive: true });
    const repo = await Repo.open(join(copy, 'repo'));
    const head = repo.resolve(REF);
    try {
      const meta = decodeVariant('a{sv}', repo.readDetachedMetadata(head)!) as [string, GVariantValue][];
      const sigs = meta.find(([k]) => k === 'ostree.gpgsigs')![1].value as Buffer[];
      const bad = Buffer.from(sigs[0]!);
      bad[bad.length - 10]! ^= 0xff;
      const next = meta.map(([k, v]) => [k, k === 'ostree.gpgsigs' ? new GVariantValue('aay', [bad]) : v]);
      repo.writeDetachedMetadata(head, encodeVariant('a{sv}', next));
    } finally {
      repo.close();
    }
    const r = await verifyPublished(copy, { key: key.dir });
    expect(r.problems).toEqual([expect.stringMatching(new RegExp(`^ref ${REF}, commit ${head} .*none of its 1 GPG signatures verifies`))]);
  });

  it('names a signed commit served under a ref it is not bound to', async () => {
    const copy = join(dir, 'pub-ref-mixup');
    await cp(pub, copy, { recursive: true });
    const repo = await Repo.open(join(copy, 'repo'));
    const head = repo.resolve(REF);
    try {
      repo.setRef('gw/other', head);
    } finally {
      repo.close();
    }
    const r = await verifyPublished(copy, { key: key.dir });
    expect(r.problems).toContain(`ref gw/other: commit ${head} is bound to ${REF} (ostree.ref-binding), not to gw/other`);
    // Its parent (1.0) is named too; the real ref's chain is not.
    expect(r.problems.filter((p) => p.includes('ostree.ref-binding'))).toHaveLength(2);
    expect(r.problems.some((p) => p.startsWith(`ref ${REF}:`))).toBe(false);
  });

  it('bundle the published delta from 1.0 and the whole 1.1, both verified by applying them', async () => {
    const delta = join(dir, 'delta.otab');
    const whole = join(dir, 'whole.otab');
    const before = await snapshot(pub);
    const d = await ota('bundle', '--to', pub, '--version', '1.1', '--from', '1.0', '-o', delta, '--json');
    expect(d.code, d.err).toBe(0);
    expect(JSON.parse(d.out.join('\n'))).toMatchObject({ deltaSource: 'published', header: { ref: REF, version: '1.1', from: { version: '1.0' } } });
    expect((await ota('bundle', '--to', pub, '--version', '1.1', '-o', whole)).code).toBe(0);
    expect(await snapshot(pub)).toEqual(before);
    for (const [file, extra] of [[delta, ['--repo', join(pub, 'repo')]], [whole, []]] as const) {
      const v = await ota('verify', file, '--key', key.dir, ...extra, '--json');
      expect(v.code, v.err).toBe(0);
      expect(JSON.parse(v.out.join('\n'))).toMatchObject({ kind: 'bundle', version: '1.1', applied: true, problems: [] });
    }
  });
});
