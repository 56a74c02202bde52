import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../../contract/index.js';
import { deltaDir } from '../../../host-tools/publish/delta.js';
import { verifyPublished } from '../../../host-tools/verify/published.js';
import { ota } from '../../helpers/cli.js';
import { otaRejection } from '../../helpers/errors.js';
import { makePublished, resign, signSummary, type PublishedFixture } from '../../helpers/published-fixture.js';
import { snapshot } from '../../helpers/tree-snapshot.js';

let root: string;
let base: PublishedFixture;
let n = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-verify-'));
  base = await makePublished(join(root, 'base'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A copy of the fixture a test may damage. */
async function copy(): Promise<PublishedFixture> {
  const to = join(root, `c${n++}`);
  await cp(join(root, 'base'), to, { recursive: true });
  return { ...base, dir: join(to, 'published'), keyDir: join(to, 'keys'), repo: join(to, 'published', 'repo') };
}

/** Runs verify and checks it changed nothing in the published directory. */
async function problems(f: PublishedFixture, key: string | undefined = f.keyDir): Promise<string[]> {
  const before = await snapshot(f.dir);
  const r = await verifyPublished(f.dir, key ? { key } : {});
  expect(await snapshot(f.dir)).toEqual(before);
  return r.problems;
}

async function firstFilez(repo: string): Promise<string> {
  for (const d of (await readdir(join(repo, 'objects'))).sort()) {
    const f = (await readdir(join(repo, 'objects', d))).find((x) => x.endsWith('.filez'));
    if (f) return join(repo, 'objects', d, f);
  }
  throw new Error('no .filez object');
}

async function flipByte(file: string, at: (size: number) => number): Promise<void> {
  const b = await readFile(file);
  const i = at(b.length);
  b[i] = b[i]! ^ 0x01;
  await writeFile(file, b);
}

describe('ota verify PUBLISHED', () => {
  it('accepts an intact directory with the trusted key and reports what it checked', async () => {
    const f = await copy();
    const r = await verifyPublished(f.dir, { key: f.keyDir });
    expect(r.problems).toEqual([]);
    expect(r.trust).toBe('key');
    expect(r.refs).toEqual([{ ref: f.ref, head: f.commits['2.0'], commits: 2 }]);
    expect(r).toMatchObject({ deltas: 1, releases: 2, groups: 1 });
    const cli = await ota('verify', f.dir);
    expect(cli.code).toBe(0);
    expect(cli.out.join('\n')).toMatch(/integrity, not trust/);
  });

  it('names the commits, summary and manifests a wrong key does not verify', async () => {
    const f = await copy();
    const other = await generateSigningKey();
    const wrong = join(root, `wrong${n++}.jwks`);
    await writeFile(wrong, JSON.stringify({ keys: [other.publicJwk] }));
    const p = await problems(f, wrong);
    expect(p.filter((x) => /commit .* no valid ostree.sign.ed25519 signature/.test(x))).toHaveLength(2);
    expect(p).toContain('summary.sig does not verify the summary with a trusted key');
    expect(p.filter((x) => /^releases\/.*kid/.test(x))).toHaveLength(2);
    const cli = await ota('verify', f.dir, '--key', wrong, '--json');
    expect(cli.code).toBe(1);
    expect(JSON.parse(cli.out.join('\n')).error).toMatchObject({ code: 'ERR_OTA_VERIFY' });
  });

  it('names a keys.jwks that is missing or holds no key, which would let publish take any key', async () => {
    const f = await copy();
    await rm(join(f.dir, 'keys.jwks'));
    expect(await problems(f)).toEqual(['keys.jwks is missing']);
    await writeFile(join(f.dir, 'keys.jwks'), '{"keys": []}\n');
    expect(await problems(f)).toEqual([expect.stringMatching(/^keys\.jwks: /)]);
  });

  it('refuses a missing key file before checking anything', async () => {
    const f = await copy();
    const e = await otaRejection(verifyPublished(f.dir, { key: join(root, 'nope.jwks') }));
    expect(e.code).toBe('ERR_OTA_KEY');
  });

  it('finds one changed byte in a file object (libostree fsck)', async () => {
    const f = await copy();
    const obj = await firstFilez(f.repo);
    await flipByte(obj, (s) => s - 1);
    const p = await problems(f);
    expect(p.some((x) => x.includes('damaged object') && x.includes(obj.split('/').slice(-2).join('').replace('.filez', '')))).toBe(true);
  });

  it('names a missing file object and goes on checking', async () => {
    const f = await copy();
    const obj = await firstFilez(f.repo);
    await rm(obj);
    const name = obj.split('/').slice(-2).join('').replace('.filez', '');
    const p = await problems(f);
    expect(p.some((x) => x.includes('damaged object') && x.includes(name))).toBe(true);
    // The manifests' sizes cannot be measured without it: said per manifest, not thrown.
    expect(p.some((x) => /^releases\/fx\/amd64\/[12]\.0\.jws: its sizes could not be measured: .*/.test(x))).toBe(true);
  });

  it('finds a changed byte in a static delta part', async () => {
    const f = await copy();
    const part = join(f.repo, deltaDir(f.commits['1.0']!, f.commits['2.0']!), '0');
    await flipByte(part, (s) => s >> 1);
    const p = await problems(f);
    expect(p.some((x) => /delta .*part 0 does not match its checksum/.test(x))).toBe(true);
  });

  it('names a damaged delta index, which clients read to find a delta', async () => {
    const f = await copy();
    const index = join(f.repo, deltaDir(null, f.commits['2.0']!).replace(/^deltas\//, 'delta-indexes/') + '.index');
    // Byte 30 is inside the delta's name (after "ostree.static-deltas" and its padding).
    await flipByte(index, () => 30);
    const p = await problems(f);
    expect(p.some((x) => /^delta-indexes\/.*\.index: lists delta .*, which is not in deltas\//.test(x))).toBe(true);
    expect(p.some((x) => /^delta .* -> .*: .*delta-indexes\/.*\.index does not list it/.test(x))).toBe(true);
  });

  it('refuses a manifest with one byte changed', async () => {
    const f = await copy();
    const file = join(f.dir, 'releases', f.ref, '1.0.jws');
    const jws = (await readFile(file, 'utf8')).trim();
    const [h, payload, s] = jws.split('.');
    const body = Buffer.from(payload!, 'base64url').toString().replace('"fx 1.0"', '"fx 1.1"');
    await writeFile(file, `${h}.${Buffer.from(body).toString('base64url')}.${s}\n`);
    const p = await problems(f);
    expect(p).toEqual([expect.stringMatching(/^releases\/fx\/amd64\/1\.0\.jws: .*signature does not verify/)]);
  });

  it('names a published commit whose release manifest is missing', async () => {
    const f = await copy();
    await rm(join(f.dir, 'releases', f.ref, '1.0.jws'));
    expect(await problems(f)).toEqual([`ref fx/amd64, commit ${f.commits['1.0']!} (version 1.0): releases/fx/amd64/1.0.jws is missing`]);
  });

  it('names an expired manifest', async () => {
    const f = await copy();
    await resign(f, '1.0', (m) => m, { now: new Date(Date.now() - 10 * 86400_000), expiresInSeconds: 3600 });
    const p = await problems(f);
    expect(p).toEqual([expect.stringMatching(/^releases\/fx\/amd64\/1\.0\.jws: .*expired/)]);
  });

  it('names a manifest whose board or commit does not match the repository', async () => {
    const f = await copy();
    await resign(f, '1.0', (m) => ({ ...m, board: 'otherboard' }));
    await resign(f, '2.0', (m) => ({ ...m, commit: 'ab'.repeat(32) }));
    const p = await problems(f);
    expect(p).toContain("releases/fx/amd64/1.0.jws: says board otherboard, the commit's ota.board is fxboard");
    expect(p).toContain(`releases/fx/amd64/2.0.jws: commit ${'ab'.repeat(32)} is not in the chain of ref fx/amd64`);
    // The group still announces the old 2.0 manifest, whose commit now differs from the published one.
    expect(p.some((x) => x.startsWith('groups/lab/release.jws: announces commit'))).toBe(true);
  });

  it('names a summary.sig that does not match the summary', async () => {
    const f = await copy();
    await signSummary(f.repo, await generateSigningKey());
    expect(await problems(f)).toEqual(['summary.sig does not verify the summary with a trusted key']);
  });

  it('names a delta the summary lists that deltas/ does not hold', async () => {
    const f = await copy();
    await rm(join(f.repo, deltaDir(f.commits['1.0']!, f.commits['2.0']!)), { recursive: true });
    const p = await problems(f);
    expect(p).toContain(`the summary lists delta ${f.commits['1.0']!.slice(0, 12)} -> ${f.commits['2.0']!.slice(0, 12)}, which repo/deltas/ does not hold`);
  });

  it('refuses a directory that is not ours, by name', async () => {
    const dir = join(root, `plain${n++}`);
    await cp(join(root, 'base', 'published', 'repo'), join(dir, 'repo'), { recursive: true });
    const e = await otaRejection(verifyPublished(dir, { key: base.keyDir }));
    expect(e.code).toBe('ERR_OTA_PUBLISHED');
    expect(e.message).toContain('has no ota-published.json');
    // verify has no --to: the hint names the directory publish made, not publish's option.
    expect(e.hint).not.toMatch(/^give --to/);
    expect(e.hint).toMatch(/ota publish --to/);
  });
});
