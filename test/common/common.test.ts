import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otaRejection } from '../helpers/errors.js';
import { EXIT, formatError, OtaError, withContext } from '../../common/errors.js';
import { run, start } from '../../common/exec.js';
import { downloadFile, fetchBytes } from '../../common/http.js';
import { writeFileAtomic } from '../../common/atomic-write.js';

describe('OtaError', () => {
  it('keeps code, hint, details and exit code through added context', () => {
    const e = new OtaError('ERR_OTA_MANIFEST', 'bad key', { hint: 'fix it', details: ['line 3'] });
    expect(e.exitCode).toBe(EXIT.usage);
    const w = withContext(e, 'locking image.yaml') as OtaError;
    expect(w).toBeInstanceOf(OtaError);
    expect(w.message).toBe('locking image.yaml: bad key');
    expect([w.code, w.hint, w.details, w.exitCode]).toEqual(['ERR_OTA_MANIFEST', 'fix it', ['line 3'], 2]);
    expect(formatError(w)).toBe('error: locking image.yaml: bad key\n  line 3\nhint: fix it');
  });

  it('wraps other errors as causes and marks them internal when printed', () => {
    const w = withContext(new TypeError('boom'), 'ctx');
    expect(w.message).toBe('ctx: boom');
    expect(w.cause).toBeInstanceOf(TypeError);
    expect(formatError(w)).toMatch(/^internal error: /);
    expect(new OtaError('ERR_OTA_LOCK_STALE', 'x').exitCode).toBe(EXIT.stale);
    expect(new OtaError('ERR_OTA_FETCH', 'x').exitCode).toBe(EXIT.failure);
  });
});

describe('run', () => {
  it('returns output, feeds stdin, and accepts listed exit codes', async () => {
    expect((await run('echo', ['sh', '-c', 'cat; echo err >&2'], { input: 'hi' })).stdout).toBe('hi');
    expect((await run('exit 3', ['sh', '-c', 'exit 3'], { okCodes: [3] })).code).toBe(3);
    const bin = await run('binary', ['printf', '\\001\\002'], { binary: true });
    expect([...bin.stdout]).toEqual([1, 2]);
  });

  it('fails with the description, argv, exit code and the tail of stderr', async () => {
    const err = await otaRejection(run('doing a thing', ['sh', '-c', 'echo first >&2; echo last >&2; exit 4']));
    expect(err).toBeInstanceOf(OtaError);
    expect(err.message).toContain('doing a thing: `sh -c');
    expect(err.message).toContain('exited with 4');
    expect(err.details).toEqual(['first', 'last', `command: sh -c 'echo first >&2; echo last >&2; exit 4'`]);
  });

  it('names the program and its first arguments, not a whole inline script, and keeps the full argv in the details', async () => {
    // Stage 2 runs `setpriv ... sh -c <a 22-line script> sh <root> ...`: the script must not become the message.
    const script = ['set -eu', 'root=$1', 'echo "cannot mount $root" >&2', 'exit 7', ...Array.from({ length: 18 }, (_, i) => `: line ${i}`)].join('\n');
    const argv = ['setpriv', '--pdeathsig', 'KILL', 'sh', '-c', script, 'sh', '/build/root', '/build/mnt'];
    const err = await otaRejection(run('configure the image', argv));
    expect(err.message).toBe('configure the image: `setpriv --pdeathsig KILL sh …` exited with 7');
    expect(err.message).not.toContain('\n');
    expect(err.details[0]).toBe('cannot mount /build/root');
    expect(err.details.at(-1)).toBe(`command: setpriv --pdeathsig KILL sh -c '${script}' sh /build/root /build/mnt`);
  });

  it('on abort, kills the child with killSignal (one that ignores SIGTERM here) and rejects with the reason', async () => {
    const stop = new AbortController();
    const reason = new OtaError('ERR_OTA_INTERRUPTED', 'stopped');
    const pending = run('a sleeper', ['sh', '-c', 'trap "" TERM; echo up; exec sleep 1000'], { signal: stop.signal, killSignal: 'SIGKILL' });
    stop.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('runs a child beside the caller, to be signalled part way', async () => {
    const c = start('a sleeper', ['sh', '-c', 'echo started >&2; exec sleep 1000']);
    const seen: string[] = [];
    await new Promise<void>((resolve) => c.onStderr((t) => (seen.push(t), resolve())));
    c.kill('SIGTERM');
    expect(await c.exited).toMatchObject({ code: null, signal: 'SIGTERM', stderr: 'started\n' });
    expect(seen.join('')).toBe('started\n');
  });

  it('says how to get a missing program', async () => {
    const err = await otaRejection(run('missing', ['ota-no-such-program']));
    expect(err.code).toBe('ERR_OTA_EXEC');
    expect(err.hint).toContain('scripts/setup');
  });
});

describe('fetchBytes (real HTTP on 127.0.0.1)', () => {
  let server: Server;
  let base: string;
  const hits = new Map<string, number>();
  beforeAll(async () => {
    server = createServer((req, res) => {
      const n = (hits.get(req.url!) ?? 0) + 1;
      hits.set(req.url!, n);
      if (req.url === '/ok') res.end('hello');
      else if (req.url === '/flaky' && n <= 2) res.writeHead(503).end();
      else if (req.url === '/flaky') res.end('finally');
      else if (req.url === '/down') res.writeHead(502).end();
      else if (req.url === '/reset') req.socket.destroy();
      else if (req.url === '/forbidden') res.writeHead(403).end();
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('fetches, and retries transient failures', async () => {
    expect((await fetchBytes(`${base}/ok`)).toString()).toBe('hello');
    expect((await fetchBytes(`${base}/flaky`, { backoffMs: 1 })).toString()).toBe('finally');
    expect(hits.get('/flaky')).toBe(3);
  });

  it('gives up after the retries, naming the URL, the attempts and the reason', async () => {
    await expect(fetchBytes(`${base}/down`, { retries: 2, backoffMs: 1 })).rejects.toThrow(/cannot reach .*\/down after 3 attempts: HTTP 502/);
    expect(hits.get('/down')).toBe(3);
    await expect(fetchBytes(`${base}/reset`, { retries: 1, backoffMs: 1 })).rejects.toThrow(/after 2 attempts/);
  });

  it('does not retry a 404, and returns undefined for it when allowed', async () => {
    expect(await fetchBytes(`${base}/missing`, { allowMissing: true })).toBeUndefined();
    await expect(fetchBytes(`${base}/missing2`)).rejects.toThrow(/does not exist on the server \(HTTP 404\)/);
    expect(hits.get('/missing2')).toBe(1);
    await expect(fetchBytes(`${base}/forbidden`)).rejects.toThrow(/HTTP 403/);
  });

  it('reads file: URLs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-http-'));
    await writeFile(join(dir, 'f'), 'local');
    expect((await fetchBytes(pathToFileURL(join(dir, 'f')).href)).toString()).toBe('local');
    expect(await fetchBytes(pathToFileURL(join(dir, 'nope')).href, { allowMissing: true })).toBeUndefined();
  });
});

describe('downloadFile from file: URLs (a local archive)', () => {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const body = Buffer.from('a deb, say\n'.repeat(1000));

  it('copies the file, checked against size and SHA256, counting bytes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-http-'));
    await writeFile(join(dir, 'x.deb'), body);
    let counted = 0;
    const r = await downloadFile(pathToFileURL(join(dir, 'x.deb')).href, join(dir, 'cached.deb'), { expectedSize: body.length, expectedSha256: sha(body), onBytes: (n) => (counted += n) });
    expect(r).toEqual({ status: 'ok', resumedFrom: 0 });
    expect(await readFile(join(dir, 'cached.deb'))).toEqual(body);
    expect(counted).toBe(body.length);
    expect((await readdir(dir)).sort()).toEqual(['cached.deb', 'x.deb']);
  });

  it('refuses different bytes (ERR_OTA_HASH) and leaves neither the file nor a partial one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-http-'));
    await writeFile(join(dir, 'x.deb'), Buffer.concat([body, Buffer.from('!')]));
    const err = await otaRejection(downloadFile(pathToFileURL(join(dir, 'x.deb')).href, join(dir, 'cached.deb'), { expectedSize: body.length, expectedSha256: sha(body) }));
    expect(err.code).toBe('ERR_OTA_HASH');
    expect(err.message).toContain('x.deb does not match the lock');
    expect(await readdir(dir)).toEqual(['x.deb']);
  });

  it('says `missing` for a file that is not there, so the next URI can be tried', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-http-'));
    expect(await downloadFile(pathToFileURL(join(dir, 'nope.deb')).href, join(dir, 'cached.deb'), { expectedSize: 1, expectedSha256: sha(Buffer.from('x')) })).toEqual({ status: 'missing' });
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file and leaves no temp file behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-atomic-'));
    const p = join(dir, 'sub', 'out.txt');
    await writeFileAtomic(p, 'one');
    await writeFileAtomic(p, 'two');
    expect(await readFile(p, 'utf8')).toBe('two');
    expect(await readdir(join(dir, 'sub'))).toEqual(['out.txt']);
  });

  it('leaves the old content when the write cannot happen', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-atomic-'));
    const p = join(dir, 'out.txt');
    await writeFileAtomic(p, 'old');
    await expect(writeFileAtomic(join(p, 'child'), 'x')).rejects.toThrow();
    expect(await readFile(p, 'utf8')).toBe('old');
  });
});
