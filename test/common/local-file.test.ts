import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../common/exec.js';
import { downloadFile, fetchBytes } from '../../common/http.js';
import { otaRejection } from '../helpers/errors.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let dir: string;
let fifo: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-local-'));
  fifo = join(dir, 'pipe');
  await run('mkfifo', ['mkfifo', fifo]);
  await mkdir(join(dir, 'adir'));
});

const url = (p: string) => pathToFileURL(p).href;

describe('file: URLs read regular files only (real files, a real FIFO and /dev/zero)', () => {
  it('refuses a FIFO nobody writes to instead of waiting for a writer', async () => {
    const e = await otaRejection(fetchBytes(url(fifo)));
    expect(e.code).toBe('ERR_OTA_FETCH');
    expect(e.message).toContain(`${url(fifo)} is a FIFO, not a regular file`);
    const d = await otaRejection(downloadFile(url(fifo), join(dir, 'cache-fifo.deb'), { expectedSize: 10, expectedSha256: '0'.repeat(64) }));
    expect(d.message).toMatch(/is a FIFO, not a regular file/);
  });

  it('refuses a device such as /dev/zero, which never ends', async () => {
    const e = await otaRejection(fetchBytes('file:///dev/zero'));
    expect(e.message).toMatch(/file:\/\/\/dev\/zero is a device/);
    const d = await otaRejection(downloadFile('file:///dev/zero', join(dir, 'cache-zero.deb'), { expectedSize: 10, expectedSha256: '0'.repeat(64) }));
    expect(d.message).toMatch(/is a device/);
  });

  it('refuses a directory, saying so, and leaves nothing in the cache', async () => {
    const cache = join(dir, 'cache-dir');
    await mkdir(cache);
    const d = await otaRejection(downloadFile(url(join(dir, 'adir')), join(cache, 'x.deb'), { expectedSize: 10, expectedSha256: '0'.repeat(64) }));
    expect(d.code).toBe('ERR_OTA_FETCH');
    expect(d.message).toMatch(/adir is a directory, not a regular file/);
    expect(await readdir(cache)).toEqual([]);
  });

  it('copies at most one byte more than the locked size from a longer file', async () => {
    const long = join(dir, 'long.deb');
    await writeFile(long, Buffer.alloc(100_000, 7));
    const want = Buffer.alloc(1000, 7);
    const e = await otaRejection(downloadFile(url(long), join(dir, 'long-cache.deb'), { expectedSize: want.length, expectedSha256: sha(want) }));
    expect(e.code).toBe('ERR_OTA_HASH');
    expect(e.message).toContain('(1001 bytes), expected');
  });

  it('still copies a regular file of the locked size', async () => {
    const ok = join(dir, 'ok.deb');
    const bytes = Buffer.from('a local deb\n');
    await writeFile(ok, bytes);
    const dest = join(dir, 'ok-cache.deb');
    expect(await downloadFile(url(ok), dest, { expectedSize: bytes.length, expectedSha256: sha(bytes) })).toEqual({ status: 'ok', resumedFrom: 0 });
    expect(await fetchBytes(url(dest))).toEqual(bytes);
  });

  it('honours the abort signal on a file: read', async () => {
    const f = join(dir, 'index');
    await writeFile(f, 'Package: x\n');
    const ac = new AbortController();
    ac.abort(new Error('stopped by the test'));
    await expect(fetchBytes(url(f), { signal: ac.signal })).rejects.toThrow('stopped by the test');
  });
});
