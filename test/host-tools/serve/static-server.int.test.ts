import { request } from 'node:http';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type Serving } from '../../../host-tools/serve/serve.js';
import { OtaError } from '../../../common/errors.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request on its own connection, the path sent exactly as given (no client-side normalisation). */
function get(base: string, path: string, o: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: o.method ?? 'GET', headers: o.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const objectName = `${'c'.repeat(62)}.filez`;
const objectPath = `/repo/objects/ab/${objectName}`;
let dir: string;
let outside: string;
let s: Serving;
const object = randomBytes(5000);
const summary = randomBytes(300);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-serve-'));
  outside = await mkdtemp(join(tmpdir(), 'ota-outside-'));
  await writeFile(join(outside, 'secret'), 'secret\n');
  await writeFile(join(dir, 'ota-published.json'), JSON.stringify({ format: 'deb-ota-published', formatVersion: 1 }));
  await mkdir(join(dir, 'repo', 'objects', 'ab'), { recursive: true });
  await mkdir(join(dir, 'repo', 'refs', 'heads', 'os'), { recursive: true });
  await mkdir(join(dir, 'groups', 'lab'), { recursive: true });
  await writeFile(join(dir, 'repo', 'objects', 'ab', objectName), object);
  await writeFile(join(dir, 'repo', 'summary'), summary);
  await writeFile(join(dir, 'repo', 'refs', 'heads', 'os', 'stable'), `${'d'.repeat(64)}\n`);
  await writeFile(join(dir, 'groups', 'lab', 'release.jws'), 'a.b.c');
  await writeFile(join(dir, 'groups', 'lab', '.release.jws.tmp'), 'half written');
  await symlink(join(outside, 'secret'), join(dir, 'groups', 'lab', 'leak'));
  await symlink('release.jws', join(dir, 'groups', 'lab', 'inside'));
  s = await serve({ dir, httpPort: 0, mqtt: false });
});

afterAll(async () => {
  await s?.close();
  await rm(dir, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe('ota serve over real HTTP on 127.0.0.1', () => {
  it('binds loopback, on the free port it was given 0 for', () => {
    expect(s.http.address).toBe('127.0.0.1');
    expect(s.http.port).toBeGreaterThan(0);
    expect(s.mqtt).toBeNull();
  });

  it('serves an object whole with its length, type, ETag and a year of caching', async () => {
    const r = await get(s.http.url, objectPath);
    expect(r.status).toBe(200);
    expect(r.body.equals(object)).toBe(true);
    expect(r.headers['content-length']).toBe(String(object.length));
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(r.headers.etag).toBe(`"ab${objectName}"`);
  });

  it('answers Range requests with 206 and the exact bytes, and 416 past the end', async () => {
    const r = await get(s.http.url, objectPath, { headers: { Range: 'bytes=100-1099' } });
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 100-1099/${object.length}`);
    expect(r.body.equals(object.subarray(100, 1100))).toBe(true);
    const tail = await get(s.http.url, objectPath, { headers: { Range: 'bytes=-10' } });
    expect(tail.body.equals(object.subarray(object.length - 10))).toBe(true);
    const past = await get(s.http.url, objectPath, { headers: { Range: `bytes=${object.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers['content-range']).toBe(`bytes */${object.length}`);
  });

  it('revalidates with ETag: 304 without a body, and If-Range falls back to the whole file when stale', async () => {
    const first = await get(s.http.url, '/repo/summary');
    expect(first.headers['cache-control']).toBe('no-cache');
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    const again = await get(s.http.url, '/repo/summary', { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect((await get(s.http.url, '/repo/summary', { headers: { Range: 'bytes=0-9', 'If-Range': etag } })).status).toBe(206);
    const stale = await get(s.http.url, '/repo/summary', { headers: { Range: 'bytes=0-9', 'If-Range': '"old"' } });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(summary)).toBe(true);
  });

  it('gives refs and group manifests short cache lifetimes and their own types', async () => {
    const ref = await get(s.http.url, '/repo/refs/heads/os/stable');
    expect(ref.headers['cache-control']).toBe('no-cache');
    expect(ref.body.toString()).toBe(`${'d'.repeat(64)}\n`);
    const jws = await get(s.http.url, '/groups/lab/release.jws');
    expect(jws.headers['cache-control']).toBe('no-cache');
    expect(jws.headers['content-type']).toBe('application/jose');
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const r = await get(s.http.url, objectPath, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(object.length));
    expect(r.body.length).toBe(0);
  });

  it('refuses other methods with 405 and Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await get(s.http.url, '/repo/summary', { method });
      expect(r.status).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
    }
  });

  it('refuses traversal, symlinks that leave the tree, dotfiles, directories and missing files', async () => {
    expect((await get(s.http.url, '/repo/../../../../etc/passwd')).status).toBe(400);
    expect((await get(s.http.url, '/repo/%2e%2e/%2e%2e/%2e%2e/etc/passwd')).status).toBe(400);
    const leak = await get(s.http.url, '/groups/lab/leak');
    expect(leak.status).toBe(404);
    expect(leak.body.toString()).not.toContain('secret');
    expect((await get(s.http.url, '/groups/lab/inside')).body.toString()).toBe('a.b.c');
    expect((await get(s.http.url, '/groups/lab/.release.jws.tmp')).status).toBe(404);
    expect((await get(s.http.url, '/repo/objects')).status).toBe(404);
    expect((await get(s.http.url, '/')).status).toBe(404);
    expect((await get(s.http.url, '/repo/nope')).status).toBe(404);
  });

  it('refuses a directory without ota-published.json before opening a port', async () => {
    const err = await serve({ dir: outside, httpPort: 0, mqtt: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OtaError);
    expect((err as OtaError).code).toBe('ERR_OTA_PUBLISHED');
    expect((err as OtaError).message).toContain('ota-published.json');
    const empty = await mkdtemp(join(tmpdir(), 'ota-empty-'));
    try {
      await expect(serve({ dir: empty, httpPort: 0, mqtt: false })).rejects.toThrow(/is empty/);
      await expect(serve({ dir: join(empty, 'nope'), httpPort: 0, mqtt: false })).rejects.toThrow(/does not exist/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
