import { appendFile, cp, mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repo, verifyCommitEd25519 } from '../../../node-ostree/index.js';
import { TarWriter } from '../../../node-ostree/tar-writer.js';
import { applyBundle, listTarMembers, openBundle } from '../../../bundle/index.js';
import { writeBundle } from '../../../host-tools/bundle/write.js';
import { verifyBundle } from '../../../host-tools/verify/bundle.js';
import { ota } from '../../helpers/cli.js';
import { otaRejection } from '../../helpers/errors.js';
import { makePublished, type PublishedFixture } from '../../helpers/published-fixture.js';
import { snapshot } from '../../helpers/tree-snapshot.js';

let root: string;
let f: PublishedFixture;
let whole: string;
let delta: string;
let n = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-bundle-'));
  f = await makePublished(root);
  whole = join(root, 'whole.otab');
  delta = join(root, 'delta.otab');
  const before = await snapshot(f.dir);
  const cli = await ota('bundle', '--to', f.dir, '--version', '2.0', '-o', whole, '--json');
  expect(cli.code).toBe(0);
  expect(JSON.parse(cli.out.join('\n'))).toMatchObject({ deltaSource: 'generated', header: { version: '2.0', commit: f.commits['2.0'], from: null } });
  const r = await writeBundle({ published: f.dir, version: '2.0', from: '1.0', output: delta });
  expect(r.deltaSource).toBe('published');
  expect(await snapshot(f.dir)).toEqual(before);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function damaged(from: string, edit: (file: string) => Promise<void>): Promise<string> {
  const to = join(root, `damaged${n++}.otab`);
  await cp(from, to);
  await edit(to);
  return to;
}

/** Rewrites a bundle with one member's content replaced. */
async function replaceMember(from: string, name: string, data: Buffer): Promise<string> {
  const to = join(root, `swapped${n++}.otab`);
  const fh = await open(from, 'r');
  const out = await open(to, 'w');
  const stream = out.createWriteStream();
  const tar = new TarWriter({ output: stream });
  const done = new Promise<void>((resolve) => stream.on('close', () => resolve()));
  for (const m of await listTarMembers(fh, from)) {
    const b = Buffer.alloc(m.size);
    await fh.read(b, 0, m.size, m.offset);
    const content = m.name === name ? data : b;
    await tar.addEntry({ path: m.name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: content.length }, content);
  }
  await tar.finish();
  await done;
  await fh.close();
  return to;
}

describe('ota bundle and ota verify FILE.otab', () => {
  it('a whole-commit bundle applies offline into an empty repository, with the commit signature', async () => {
    const b = await openBundle(whole);
    expect(b.header).toMatchObject({ format: 'deb-ota-bundle', formatVersion: 1, ref: f.ref, version: '2.0', from: null });
    expect(b.manifestJws).toBe((await readFile(join(f.dir, 'releases', f.ref, '2.0.jws'), 'utf8')).trim());
    const repo = await Repo.create(join(root, `target${n++}`), 'bare-user');
    try {
      expect(await applyBundle(b, repo)).toBe(f.commits['2.0']);
      expect(verifyCommitEd25519(repo, f.commits['2.0']!, [f.key.publicJwk ? (await import('node:crypto')).createPublicKey({ key: f.key.publicJwk as never, format: 'jwk' }) : Buffer.alloc(0)]).valid).toBe(true);
      expect((await repo.fsck(f.commits['2.0']!)).objects).toBeGreaterThan(3);
    } finally {
      repo.close();
    }
    const r = await verifyBundle(whole, { key: f.keyDir });
    expect(r).toMatchObject({ problems: [], applied: true, commit: f.commits['2.0'] });
  });

  it('a bundle from 1.0 carries the published delta and applies onto a repository holding 1.0', async () => {
    const noRepo = await verifyBundle(delta, { key: f.keyDir });
    expect(noRepo).toMatchObject({ problems: [], applied: false, from: { version: '1.0', commit: f.commits['1.0'] } });
    const cli = await ota('verify', delta, '--key', f.keyDir, '--repo', f.repo);
    expect(cli.code).toBe(0);
    expect(cli.out.join('\n')).toMatch(/applied offline into a temporary repository: commit signed/);
  });

  it('refuses a truncated bundle, by name', async () => {
    const t = await damaged(whole, async (p) => truncate(p, (await stat(p)).size - 2000));
    const e = await otaRejection(openBundle(t));
    expect(e.message).toMatch(/is not a valid bundle: truncated/);
    expect((await ota('verify', t, '--key', f.keyDir)).code).toBe(2);
  });

  it('refuses data appended after the end-of-archive marker, and takes zero padding to a tar record', async () => {
    const junk = await damaged(whole, async (p) => appendFile(p, 'hello, this was appended'));
    const e = await otaRejection(openBundle(junk));
    expect(e.message).toMatch(/is not a valid bundle: data after the end-of-archive marker at byte \d+ \(the file goes on to byte \d+\)/);
    const padded = await damaged(whole, async (p) => appendFile(p, Buffer.alloc(8 * 512)));
    expect((await openBundle(padded)).header.version).toBe('2.0');
  });

  it('names a damaged delta part and applies nothing', async () => {
    const b = await openBundle(whole);
    const part = b.members.find((m) => m.name === 'delta/0')!;
    const t = await damaged(whole, async (p) => {
      const buf = await readFile(p);
      buf[part.offset + (part.size >> 1)]! ^= 0xff;
      await writeFile(p, buf);
    });
    const r = await verifyBundle(t, { key: f.keyDir });
    expect(r.problems).toEqual(['delta part 0 does not match its checksum in the superblock']);
    expect(r.applied).toBe(false);
    const repo = await Repo.create(join(root, `target${n++}`), 'archive');
    try {
      const before = await snapshot(repo.path);
      expect((await otaRejection(applyBundle(await openBundle(t), repo))).code).toBe('ERR_OTA_HASH');
      expect(await snapshot(repo.path)).toEqual(before);
    } finally {
      repo.close();
    }
  });

  it('names a manifest for another commit', async () => {
    const t = await replaceMember(whole, 'manifest.jws', await readFile(join(f.dir, 'releases', f.ref, '1.0.jws')));
    const r = await verifyBundle(t, { key: f.keyDir });
    expect(r.problems).toContain(`manifest.jws is for commit ${f.commits['1.0']}, the bundle's delta leads to ${f.commits['2.0']}`);
    expect(r.applied).toBe(false);
  });

  it('names a manifest with one byte changed and a wrong key', async () => {
    const jws = (await readFile(join(f.dir, 'releases', f.ref, '2.0.jws'), 'utf8')).trim();
    const t = await replaceMember(whole, 'manifest.jws', Buffer.from(jws.slice(0, -3) + (jws.endsWith('A') ? 'B' : 'A') + jws.slice(-2)));
    expect((await verifyBundle(t, { key: f.keyDir })).problems).toEqual([expect.stringMatching(/^manifest.jws: .*signature/)]);
    const other = join(root, 'other.jwks');
    const { generateSigningKey } = await import('../../../contract/index.js');
    await writeFile(other, JSON.stringify({ keys: [(await generateSigningKey()).publicJwk] }));
    expect((await verifyBundle(whole, { key: other })).problems).toEqual([expect.stringMatching(/^manifest.jws: .*kid/)]);
    expect((await otaRejection(verifyBundle(whole, {}))).message).toMatch(/needs --key/);
  });

  it('refuses to bundle from a directory that is not ours or an unknown version, writing nothing', async () => {
    const out = join(root, `never${n++}.otab`);
    expect((await otaRejection(writeBundle({ published: f.repo, version: '2.0', output: out }))).message).toMatch(/not a published directory/);
    expect((await otaRejection(writeBundle({ published: f.dir, version: '9.9', output: out }))).message).toMatch(/no published version 9.9/);
    expect((await otaRejection(writeBundle({ published: f.dir, version: '2.0', output: join(root, 'missing', 'x.otab') }))).message).toMatch(/cannot write bundle .*the file does not exist/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses an output that is a directory before any work, with no event', async () => {
    const events: unknown[] = [];
    const e = await otaRejection(writeBundle({ published: f.dir, version: '2.0', output: root, onEvent: (ev) => events.push(ev) }));
    expect(e.message).toMatch(/cannot write bundle .*: it is a directory/);
    expect(events).toEqual([]);
  });
});
