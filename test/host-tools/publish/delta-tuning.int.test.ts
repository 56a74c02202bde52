import { createServer, type Server } from 'node:http';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repo, applyDeltaOffline, commitDirectory, generateDelta, pull, regenerateSummary } from '../../../node-ostree/index.js';
import { deltaDir, generateReleaseDelta, measureDelta } from '../../../host-tools/publish/delta.js';
import { DELTA_TUNING } from '../../../host-tools/publish/delta-tuning.js';

let dir: string;
let repo: Repo;
let v1: string;
let v2: string;
let server: Server;
let url: string;
const requests: string[] = [];

/** Compressible but not trivially so: lines of text with random words, like a library's strings. */
function textLike(bytes: number): Buffer {
  const words = Array.from({ length: 512 }, () => randomBytes(6).toString('hex'));
  const out: string[] = [];
  let n = 0;
  while (n < bytes) {
    const line = `${words[Math.floor(Math.random() * words.length)]} ${words[Math.floor(Math.random() * words.length)]} ${n}\n`;
    out.push(line);
    n += line.length;
  }
  return Buffer.from(out.join('')).subarray(0, bytes);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-delta-tuning-'));
  const t = join(dir, 'tree');
  await mkdir(join(t, 'usr/lib'), { recursive: true });
  const lib = randomBytes(300_000);
  await writeFile(join(t, 'usr/lib/libold.so'), lib);
  await writeFile(join(t, 'usr/lib/gone.so'), randomBytes(10_000));
  repo = await Repo.create(join(dir, 'repo'), 'archive');
  v1 = (await commitDirectory(repo, t, { timestamp: 1 })).checksum;
  // v2: the library changes in a few bytes (a bsdiff candidate), a file goes, and a new file
  // larger than libostree's default fallback size (4 MB) comes in.
  lib.write('patched', 1000);
  await writeFile(join(t, 'usr/lib/libold.so'), lib);
  await rm(join(t, 'usr/lib/gone.so'));
  await writeFile(join(t, 'usr/lib/libbig.so'), textLike(5_000_000));
  v2 = (await commitDirectory(repo, t, { timestamp: 2, parent: v1 })).checksum;
  server = createServer((req, res) => {
    requests.push(req.url!);
    readFile(join(repo.path, decodeURIComponent(req.url!.split('?')[0]!))).then(
      (b) => res.end(b),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  repo.close();
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

/** A bare-user repository holding v1, as a device has before the update. */
async function deviceRepo(name: string): Promise<Repo> {
  const r = await Repo.create(join(dir, name), 'bare-user');
  await pull(r, repo.path, { refs: [v1], disableStaticDeltas: true });
  return r;
}

describe('the tuned release delta', () => {
  it('packs what libostree by default leaves as a fallback object, and sends fewer bytes', async () => {
    await generateDelta(repo, { from: v1, to: v2 });
    const plain = await measureDelta(repo, v1, v2);
    expect(plain.fallbackBytes).toBeGreaterThan(0); // the 5 MB file, as a zlib .filez
    const tuned = await generateReleaseDelta(repo, { from: v1, to: v2 });
    expect(DELTA_TUNING.minFallbackSizeBytes).toBe(0);
    expect(tuned.fallbackBytes).toBe(0);
    expect(tuned.bytes).toBeLessThan(plain.bytes);
  });

  it('applies over HTTP through libostree pull: the device gets the exact commit', async () => {
    await generateReleaseDelta(repo, { from: v1, to: v2 });
    await regenerateSummary(repo);
    const device = await deviceRepo('device-http');
    requests.length = 0;
    const p = await pull(device, url, { refs: [v2] });
    expect(device.hasObject('commit', v2)).toBe(true);
    expect((await device.fsck(v2)).objects).toBeGreaterThan(3);
    expect(p.deltaPartsFetched).toBeGreaterThan(0);
    // libostree 2022.7 also scans the new commit while the part is applied, and may fetch some of
    // its objects alone (docs/releases.md, "Deltas"): how many depends on timing, so not counted.
    expect(requests.some((r) => r.startsWith('/deltas/'))).toBe(true);
    device.close();
  });

  it('applies offline, from a copy of the delta directory, where a default delta with a fallback cannot', async () => {
    const device = await deviceRepo('device-offline');
    await generateDelta(repo, { from: v1, to: v2 });
    const plain = join(dir, 'usb-plain-delta');
    await cp(join(repo.path, deltaDir(v1, v2)), plain, { recursive: true });
    await expect(applyDeltaOffline(device, join(plain, 'superblock'))).rejects.toThrow(/fallback/);
    await generateReleaseDelta(repo, { from: v1, to: v2 });
    const copy = join(dir, 'usb-delta');
    await cp(join(repo.path, deltaDir(v1, v2)), copy, { recursive: true });
    await applyDeltaOffline(device, join(copy, 'superblock'));
    expect(device.hasObject('commit', v2)).toBe(true);
    expect((await device.fsck(v2)).objects).toBeGreaterThan(3);
    device.close();
  });
});
