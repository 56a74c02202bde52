import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../common/exec.js';
import { downloadFile } from '../../common/http.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const body = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `line ${i} of a deb\n`).join(''));

/** Serves `body` at any path, honouring `Range: bytes=N-`; `hold` can delay the rest of a response. */
function rangeServer(onRequest: (req: IncomingMessage, res: ServerResponse) => boolean) {
  const seen: { url: string; range: string | undefined }[] = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url!, range: req.headers.range });
    if (onRequest(req, res)) return;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) {
      const from = Number(m[1]);
      if (from >= body.length) return void res.writeHead(416).end();
      res.writeHead(206, { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` }).end(body.subarray(from));
    } else res.end(body);
  });
  return { server, seen };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

describe('downloadFile resuming (real HTTP with Range on 127.0.0.1)', () => {
  const { server, seen } = rangeServer(() => false);
  let base = '';
  beforeAll(async () => {
    base = await listen(server);
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('starts over once when the resumed bytes were damaged, instead of blaming the archive', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-dl-'));
    const damaged = Buffer.from(body.subarray(0, 5000));
    damaged[100] = damaged[100]! ^ 0xff;
    await writeFile(join(dir, 'a.deb.partial'), damaged);
    seen.length = 0;
    const r = await downloadFile(`${base}/damaged.deb`, join(dir, 'a.deb'), { expectedSize: body.length, expectedSha256: sha(body), backoffMs: 1 });
    expect(r).toEqual({ status: 'ok', resumedFrom: 0 });
    expect(sha(await readFile(join(dir, 'a.deb')))).toBe(sha(body));
    expect(seen.map((s) => s.range)).toEqual(['bytes=5000-', undefined]);
    expect(await readdir(dir)).toEqual(['a.deb']);
  });

  it('resumes what a killed process left under its own name, once that process is gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-dl-'));
    const gone = 4_194_303; // above any pid this machine hands out by default
    await writeFile(join(dir, `a.deb.${gone}-0badf00d.partial`), body.subarray(0, 7000));
    seen.length = 0;
    const r = await downloadFile(`${base}/orphan.deb`, join(dir, 'a.deb'), { expectedSize: body.length, expectedSha256: sha(body) });
    expect(r).toEqual({ status: 'ok', resumedFrom: 7000 });
    expect(seen.map((s) => s.range)).toEqual(['bytes=7000-']);
    expect(await readdir(dir)).toEqual(['a.deb']);
  });
});

describe('two processes downloading one file into a shared cache (real processes, slow server on 127.0.0.1)', () => {
  let firstStarted!: () => void;
  const started = new Promise<void>((r) => (firstStarted = r));
  let secondDone!: () => void;
  const done = new Promise<void>((r) => (secondDone = r));
  // The first download sends half, then waits until the second one has been served in full:
  // the two overlap for certain, whatever the speed of the machine.
  const { server } = rangeServer((_req, res) => {
    if (firstStarted === undefined) return false;
    const first = firstStarted;
    firstStarted = undefined as unknown as () => void;
    res.writeHead(200, { 'content-length': body.length });
    res.write(body.subarray(0, body.length / 2), () => first());
    void done.then(() => res.end(body.subarray(body.length / 2)));
    return true;
  });
  let base = '';
  beforeAll(async () => {
    base = await listen(server);
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('both succeed, the file is whole, and no partial file is left', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-dl-'));
    const dest = join(dir, `${sha(body)}.deb`);
    const cli = join(import.meta.dirname, '../helpers/download-cli.ts');
    const argv = [process.execPath, '--import', 'tsx', cli, `${base}/pool/a.deb`, dest, String(body.length), sha(body)];
    const a = run('first download', argv);
    await started;
    const b = await run('second download', argv);
    secondDone();
    const results = [JSON.parse((await a).stdout), JSON.parse(b.stdout)];
    expect(results).toEqual([
      { status: 'ok', resumedFrom: 0 },
      { status: 'ok', resumedFrom: 0 },
    ]);
    expect(sha(await readFile(dest))).toBe(sha(body));
    expect(await readdir(dir)).toEqual([`${sha(body)}.deb`]);
  });
});
