import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { IndexCache } from '../../../host-tools/apt/index-cache.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const text = 'Package: app\nVersion: 1.0-1\nArchitecture: amd64\nFilename: pool/app.deb\nSize: 10\nSHA256: ' + 'a'.repeat(64) + '\n\n';

describe('IndexCache: the cache is checked, not trusted', () => {
  it('hands back an index whose text still has the hash it was stored under', async () => {
    const cache = new IndexCache(await mkdtemp(join(tmpdir(), 'ota-idx-')));
    await cache.putPackages(sha256(text), { stored: Buffer.from(text), text });
    const got = await cache.getPackages(sha256(text));
    expect(got.kind).toBe('hit');
    expect(got.kind === 'hit' && got.index.records('app')[0]!.sha256).toBe('a'.repeat(64));
  });

  it('drops a text changed on disk (one hex digit of a SHA256 line) and says what it has now', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-idx-'));
    const cache = new IndexCache(dir);
    const key = sha256(text);
    await cache.putPackages(key, { stored: Buffer.from(text), text });
    const edited = text.replace('SHA256: a', 'SHA256: b');
    await writeFile(join(dir, 'indices', key), edited);
    expect(await cache.getPackages(key)).toEqual({ kind: 'damaged', path: join(dir, 'indices', key), sha256: sha256(edited) });
    expect(await readdir(join(dir, 'indices'))).toEqual([]);
    expect(await cache.getPackages(key)).toEqual({ kind: 'miss' });
  });

  it('keeps an index known only by its compressed hash compressed, and checks that hash', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-idx-'));
    const cache = new IndexCache(dir);
    const gz = gzipSync(text);
    const key = `gz-${sha256(gz)}`;
    await cache.putPackages(key, { stored: gz, text });
    expect(await readFile(join(dir, 'indices', key))).toEqual(gz);
    const got = await cache.getPackages(key);
    expect(got.kind === 'hit' && got.index.names()).toEqual(['app']);
    await writeFile(join(dir, 'indices', key), gzipSync(text.replace('1.0-1', '9.0-1')));
    expect((await cache.getPackages(key)).kind).toBe('damaged');
  });

  it('rebuilds a name index edited to point one name at another package\'s stanza', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-idx-'));
    const cache = new IndexCache(dir);
    const two = `${text}${text.replace('Package: app', 'Package: evil').replace('1.0-1', '6.6.6').replace('SHA256: a', 'SHA256: e')}`;
    await cache.putPackages(sha256(two), { stored: Buffer.from(two), text: two });
    const idxPath = join(dir, 'indices', `${sha256(two)}.idx.json`);
    const idx = JSON.parse(await readFile(idxPath, 'utf8')) as { stanzas: Record<string, number[]> };
    idx.stanzas.app = idx.stanzas.evil!;
    await writeFile(idxPath, JSON.stringify(idx));
    const got = await cache.getPackages(sha256(two));
    expect(got.kind === 'hit' && got.index.records('app').map((r) => r.version)).toEqual(['1.0-1']);
    expect((JSON.parse(await readFile(idxPath, 'utf8')) as typeof idx).stanzas.app).toEqual([0]);
  });

  // Values of the wrong type used to reach the resolver ("pick is not a function or its return value is not iterable").
  const badValues: [string, (idx: Record<string, unknown>) => unknown][] = [
    ['essential is a number', (idx) => ({ ...idx, essential: 5 })],
    ['required is a string', (idx) => ({ ...idx, required: 'app' })],
    ['provides is null', (idx) => ({ ...idx, provides: null })],
    ['provides names a package the index lacks', (idx) => ({ ...idx, provides: { mta: ['ghost'] } })],
    ['an offset list is a string', (idx) => ({ ...idx, stanzas: { app: '0' } })],
    ['stanzas is an array', (idx) => ({ ...idx, stanzas: [[0]] })],
    ['the whole file is null', () => null],
  ];
  it.each(badValues)('rebuilds a name index whose value has the wrong type: %s', async (_, edit) => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-idx-'));
    const cache = new IndexCache(dir);
    const key = sha256(text);
    const fresh = (await cache.putPackages(key, { stored: Buffer.from(text), text })).data;
    const idxPath = join(dir, 'indices', `${key}.idx.json`);
    await writeFile(idxPath, JSON.stringify(edit(JSON.parse(await readFile(idxPath, 'utf8')) as Record<string, unknown>)));
    const got = await cache.getPackages(key);
    expect(got.kind === 'hit' && got.index.data).toEqual(fresh);
    expect(JSON.parse(await readFile(idxPath, 'utf8'))).toEqual(JSON.parse(JSON.stringify(fresh)));
  });
});
