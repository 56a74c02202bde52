import { existsSync } from 'node:fs';
import { readFile, rm, mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { run } from '../../../common/exec.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ed from '@noble/ed25519';
import { compactVerify, importJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeVariant, GVariantValue, readCommit, Repo, verifyCommitEd25519 } from '../../../node-ostree/index.js';
import { publish } from '../../../host-tools/publish/publish.js';
import { loadTrustedKeys, readSigned } from '../../../contract/index.js';
import { ostree } from '../../helpers/ostree-cli.js';
import { otaRejection } from '../../helpers/errors.js';
import { buildRepo, hashTree, releaseKey, type BuildRepo } from './harness.js';
import { publishedVersion } from './valid.js';

// ota publish end to end on real repositories: a bare-user build repository with commits that
// carry a dpkg status, published twice into an archive-mode tree, then read back with the
// ostree CLI, an independent Ed25519 implementation and jose.

let dir: string;
let b: BuildRepo;
let key: Awaited<ReturnType<typeof releaseKey>>;
let pub: string;
const REF = 'gw/arm64';

const payloadOf = (jws: string) => JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-publish-'));
  b = await buildRepo(dir);
  key = await releaseKey(join(dir, 'keys'));
  pub = join(dir, 'pub');
  await b.build(REF, [{ name: 'libc6', version: '2.36-9' }, { name: 'bash', version: '5.2-1' }], { board: 'rpi4' });
  await publish({ repoPath: b.path, to: pub, key: key.dir, ref: REF, version: '1.0.0', group: 'lab', now: new Date('2026-01-01T00:00:00Z') });
  await b.build(REF, [{ name: 'libc6', version: '2.36-10' }, { name: 'bash', version: '5.2-1' }, { name: 'curl', version: '7.88.1-10' }], { board: 'rpi4' });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ota publish', () => {
  it('chains the commit, signs it, makes the delta and writes a manifest that jose and an independent Ed25519 verify', async () => {
    const r = await publish({ repoPath: b.path, to: pub, key: key.dir, ref: REF, version: '1.1.0', group: 'lab', minVersion: '0.9' });
    const repo = await Repo.open(join(pub, 'repo'));
    try {
      const c = readCommit(repo, REF);
      expect(c.checksum).toBe(r.commit);
      expect(c.metadata.get('version')?.value).toBe('1.1.0');
      expect(c.metadata.get('ota.built-commit')?.value).toBe(r.builtCommit);
      const first = readCommit(repo, c.parent!);
      expect(first.metadata.get('version')?.value).toBe('1.0.0');
      expect(verifyCommitEd25519(repo, r.commit, [key.publicRaw]).valid).toBe(true);
      // The commit signature, checked by another Ed25519 implementation over the commit object's bytes.
      const meta = decodeVariant('a{sv}', repo.readDetachedMetadata(r.commit)!) as [string, GVariantValue][];
      const sigs = meta.find(([k]) => k === 'ostree.sign.ed25519')![1].value as Buffer[];
      expect(await ed.verifyAsync(sigs[0]!, repo.loadVariant('commit', r.commit), key.publicRaw)).toBe(true);
    } finally {
      repo.close();
    }
    // summary.sig: an a{sv} whose ed25519 signature verifies the summary's bytes.
    const summary = await readFile(join(pub, 'repo/summary'));
    const sig = decodeVariant('a{sv}', await readFile(join(pub, 'repo/summary.sig'))) as [string, GVariantValue][];
    expect(sig.map(([k]) => k)).toEqual(['ostree.sign.ed25519']);
    const summarySigs = sig[0]![1].value as Buffer[];
    expect(summarySigs).toHaveLength(1);
    expect(await ed.verifyAsync(summarySigs[0]!, summary, key.publicRaw)).toBe(true);
    expect(await ostree([`--repo=${join(pub, 'repo')}`, 'summary', '--view'])).toContain(r.commit);
    expect(await ostree([`--repo=${join(pub, 'repo')}`, 'static-delta', 'list'])).toContain(`${r.parent}-${r.commit}`);

    const jws = (await readFile(join(pub, 'releases/gw/arm64/1.1.0.jws'), 'utf8')).trim();
    expect((await readFile(join(pub, 'groups/lab/release.jws'), 'utf8')).trim()).toBe(jws);
    const jwks = JSON.parse(await readFile(join(key.dir, 'release.pub.jwks'), 'utf8')) as { keys: JWK[] };
    const verified = await compactVerify(jws, await importJWK(jwks.keys[0]!, 'EdDSA'));
    expect(verified.protectedHeader).toMatchObject({ alg: 'EdDSA', typ: 'deb-ota-release+jws', kid: key.kid });
    const [h, p, s] = jws.split('.') as [string, string, string];
    expect(await ed.verifyAsync(Buffer.from(s, 'base64url'), Buffer.from(`${h}.${p}`), key.publicRaw)).toBe(true);
    const flipped = Buffer.from(p, 'base64url');
    flipped[10]! ^= 1;
    expect(await ed.verifyAsync(Buffer.from(s, 'base64url'), Buffer.from(`${h}.${flipped.toString('base64url')}`), key.publicRaw)).toBe(false);
    const m = payloadOf(jws);
    const read = await readSigned('release', jws, await loadTrustedKeys(key.dir));
    expect(read.kid).toBe(key.kid);
    expect(read.doc).toEqual(Object.fromEntries(Object.entries(m).filter(([k]) => !['iat', 'nbf', 'exp'].includes(k))));
    expect(read.expiresAt.getTime() - read.issuedAt.getTime()).toBe(90 * 86400 * 1000);
    expect(m).toMatchObject({
      apiVersion: 'deb-ota/v1', kind: 'Release', ref: REF, version: '1.1.0', commit: r.commit, board: 'rpi4', arch: 'arm64', minVersion: '0.9', group: 'lab',
      deltas: [{ fromVersion: '1.0.0', fromCommit: r.parent, bytes: r.deltas[0]!.bytes }],
      packages: [{ name: 'bash', version: '5.2-1', arch: 'arm64' }, { name: 'curl', version: '7.88.1-10', arch: 'arm64' }, { name: 'libc6', version: '2.36-10', arch: 'arm64' }],
      changes: { previousVersion: '1.0.0', added: [{ name: 'curl', version: '7.88.1-10' }], removed: [], changed: [{ name: 'libc6', from: '2.36-9', to: '2.36-10' }] },
    });
    expect(m.fullPullBytes).toBe(r.fullPullBytes);
    expect(r.fullPullBytes).toBeGreaterThan(60_000);
    // three 20,000-byte files in 4 KiB blocks, at least
    expect(r.unpackedBytes).toBeGreaterThanOrEqual(3 * 20_480);
    expect(r.deltas[0]!.bytes).toBeGreaterThan(0);
  });

  it('makes the same commit from the same inputs', async () => {
    const other = join(dir, 'pub-again');
    const again = async (to: string) => {
      const first = await publish({ repoPath: b.path, to, key: key.dir, ref: REF, version: '2.0', now: new Date('2026-02-01T00:00:00Z') });
      return first.commit;
    };
    expect(await again(other)).toBe(await again(join(dir, 'pub-again2')));
  });

  it('refuses versions below the latest, at or below the floor, or published, and changes nothing', async () => {
    const before = await hashTree(pub);
    const cases: [Partial<Parameters<typeof publish>[0]>, RegExp][] = [
      [{ version: '1.0.5' }, /below the latest published version 1\.1\.0/],
      [{ version: '1.2', minVersion: '1.2' }, /at or below the anti-rollback floor 1\.2/],
      [{ version: '1.1.0', force: true }, /already published/],
      [{ version: '1.1.0~' }, /below the latest/],
      [{ version: 'not a version' }, /not a valid dpkg version/],
      [{ version: '3', deltaFrom: ['0.1'] }, /--delta-from 0\.1: no such published version/],
      [{ version: '3', ref: '../x' }, /invalid ref name/],
    ];
    for (const [o, message] of cases) {
      const e = await otaRejection(publish({ repoPath: b.path, to: pub, key: key.dir, ref: REF, version: 'x', ...o }));
      expect(e.message).toMatch(message);
      expect(e.exitCode).toBe(2);
    }
    expect(await hashTree(pub)).toEqual(before);
  });

  it('refuses a directory that is not ours and a key that is not the published one, changing nothing', async () => {
    const foreign = join(dir, 'foreign');
    await mkdir(foreign);
    await writeFile(join(foreign, 'index.html'), 'hello');
    const beforeForeign = await hashTree(foreign);
    await expect(publish({ repoPath: b.path, to: foreign, key: key.dir, ref: REF, version: '5' })).rejects.toThrow(/not a published directory of ota: it is not empty and has no ota-published\.json/);
    expect(await hashTree(foreign)).toEqual(beforeForeign);
    await writeFile(join(foreign, 'ota-published.json'), '{"format": "something-else", "formatVersion": 1}');
    const withMarker = await hashTree(foreign);
    await expect(publish({ repoPath: b.path, to: foreign, key: key.dir, ref: REF, version: '5' })).rejects.toThrow(/ota-published\.json has format "something-else"/);
    expect(await hashTree(foreign)).toEqual(withMarker);
    const before = await hashTree(pub);
    const other = await releaseKey(join(dir, 'other-key'));
    await expect(publish({ repoPath: b.path, to: pub, key: other.dir, ref: REF, version: '5' })).rejects.toThrow(/release key .* is not one of this published directory's keys/);
    await expect(publish({ repoPath: b.path, to: pub, key: join(dir, 'missing'), ref: REF, version: '5' })).rejects.toThrow(/cannot read .*release key/);
    expect(await hashTree(pub)).toEqual(before);
  });

  it('keeps every ref in the summary when another ref is published beside it', async () => {
    const other = 'gw/amd64';
    await b.build(other, [{ name: 'libc6', version: '2.36-9', arch: 'amd64' }]);
    const r = await publish({ repoPath: b.path, to: pub, key: key.dir, ref: other, version: '0.1' });
    expect(r.previousVersion).toBeNull();
    const view = await ostree([`--repo=${join(pub, 'repo')}`, 'summary', '--view']);
    expect(view).toContain(`* ${other}`);
    expect(view).toContain(`* ${REF}`);
    expect(await publishedVersion(pub, other, key.dir)).toBe('0.1');
    expect(await publishedVersion(pub, REF, key.dir, 'lab')).toBe('1.1.0');
    // --commit: a build's commit by checksum, published under a ref the build repository lacks
    const built = await b.build('scratch', [{ name: 'libc6', version: '2.36-11' }]);
    const stable = await publish({ repoPath: b.path, to: pub, key: key.dir, ref: 'gw/stable', commit: built, version: '1' });
    expect(stable.builtCommit).toBe(built);
    expect(await publishedVersion(pub, 'gw/stable', key.dir)).toBe('1');
  });

  it('waits for no one: a live publisher\'s lock refuses, a dead one\'s is taken over', async () => {
    const lock = join(pub, '.ota-publish.lock');
    await writeFile(lock, `${process.pid}\n`);
    const before = await hashTree(pub);
    await expect(publish({ repoPath: b.path, to: pub, key: key.dir, ref: REF, version: '7' })).rejects.toThrow(new RegExp(`another ota publish \\(pid ${process.pid}\\) is writing`));
    expect(await hashTree(pub)).toEqual(before);
    const dead = await run('a process that has ended', ['sh', '-c', 'echo $$']);
    await writeFile(lock, dead.stdout);
    const r = await publish({ repoPath: b.path, to: pub, key: key.dir, ref: REF, version: '1.0.1', force: true });
    expect(r.commit).toMatch(/^[0-9a-f]{64}$/);
    expect(existsSync(lock)).toBe(false);
  });

  it('publishes below the latest with --force, with a warning', async () => {
    const r = await publish({ repoPath: b.path, to: join(dir, 'pub'), key: key.dir, ref: REF, version: '1.0.9', force: true });
    expect(r.previousVersion).toBe('1.0.1');
    expect(r.warnings.join('\n')).toMatch(/below the latest published version 1\.1\.0 \(published anyway: --force\)/);
  });
});
