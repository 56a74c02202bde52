import { readFile, mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ota } from '../../helpers/cli.js';
import { buildRepo, hashTree, releaseKey, type BuildRepo } from '../publish/harness.js';

// Rotating the release key of a published directory through the CLI: a publish with a key the
// directory does not trust is refused; `ota keys trust` adds it, publishes move to it, `ota
// verify` (trusting keys.jwks) accepts a chain signed by both; `ota keys untrust` drops the old
// one. Every refusal leaves the directory byte for byte as it was.

const REF = 'gw/arm64';
let dir: string;
let b: BuildRepo;
let oldKey: { dir: string; kid: string };
let newKey: { dir: string; kid: string };
let pub: string;

const publish = (key: string, version: string) => ota('publish', '--repo', b.path, '--to', pub, '--key', key, '--ref', REF, '--version', version);
const kids = async () => (JSON.parse(await readFile(join(pub, 'keys.jwks'), 'utf8')) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-keys-trust-'));
  b = await buildRepo(dir);
  oldKey = await releaseKey(join(dir, 'old'));
  newKey = await releaseKey(join(dir, 'new'));
  pub = join(dir, 'pub');
  await b.build(REF, [{ name: 'bash', version: '5.2-1' }]);
  const r = await publish(oldKey.dir, '1.0');
  expect(r.code, r.err).toBe(0);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ota keys trust and untrust', () => {
  it('a publish with an untrusted key is refused and names the way to rotate', async () => {
    await b.build(REF, [{ name: 'bash', version: '5.2-2' }]);
    const before = await hashTree(pub);
    const r = await publish(newKey.dir, '1.1');
    expect(r.code).toBe(2);
    expect(r.err).toContain(`the release key ${newKey.kid} is not one of this published directory's keys`);
    expect(r.err).toContain('ota keys trust');
    expect(await hashTree(pub)).toEqual(before);
  });

  it('trust adds the new key once, then publishing with it works and verify accepts both signers', async () => {
    const t = await ota('keys', 'trust', pub, newKey.dir, '--json');
    expect(t.code, t.err).toBe(0);
    expect(JSON.parse(t.out.join('\n'))).toMatchObject({ kids: [oldKey.kid, newKey.kid], added: [newKey.kid], removed: [] });
    const again = await ota('keys', 'trust', pub, join(newKey.dir, 'release.pub.jwks'));
    expect(again.code, again.err).toBe(0);
    expect(again.out.join('\n')).toContain('already trusts that key');
    expect(await kids()).toEqual([oldKey.kid, newKey.kid]);

    const p = await publish(newKey.dir, '1.1');
    expect(p.code, p.err).toBe(0);
    const v = await ota('verify', pub);
    expect(v.code, v.out.join('\n') + v.err).toBe(0);
  });

  it('untrust refuses an unknown kid, the only key and a private key file, changing nothing', async () => {
    const before = await hashTree(pub);
    const unknown = await ota('keys', 'untrust', pub, 'no-such-kid');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('no-such-kid is not one of');
    // One kid in 64 starts with '-': it is an id to look up, not an option.
    const dashed = await ota('keys', 'untrust', pub, '-H2dZvOXImEkUNU3doLFhHybYTF75wxjWrA1weE1pTE', '--json');
    expect(dashed.code).toBe(2);
    expect(dashed.err).toContain('-H2dZvOXImEkUNU3doLFhHybYTF75wxjWrA1weE1pTE is not one of');
    const priv = await ota('keys', 'trust', pub, join(newKey.dir, 'release.jwk'));
    expect(priv.code).toBe(2);
    expect(priv.err).toContain('is a private key');
    const notOurs = join(dir, 'not-ours');
    await mkdir(notOurs);
    await writeFile(join(notOurs, 'index.html'), 'hello');
    const elsewhere = await ota('keys', 'trust', notOurs, newKey.dir);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.err).toContain(`${notOurs} is not a published directory of ota`);
    expect(await hashTree(pub)).toEqual(before);
  });

  it('untrust drops the old key; then only the new key may publish, and the last key stays', async () => {
    const u = await ota('keys', 'untrust', pub, oldKey.kid);
    expect(u.code, u.err).toBe(0);
    expect(await kids()).toEqual([newKey.kid]);
    await b.build(REF, [{ name: 'bash', version: '5.2-3' }]);
    expect((await publish(oldKey.dir, '1.2')).code).toBe(2);
    const last = await ota('keys', 'untrust', pub, newKey.kid);
    expect(last.code).toBe(2);
    expect(last.err).toContain('only key');
    expect(await kids()).toEqual([newKey.kid]);
  });
});
