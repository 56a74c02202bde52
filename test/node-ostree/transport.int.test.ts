import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../common/exec.js';
import { Repo, commitDirectory, pull, generateDelta, applyDeltaOffline, regenerateSummary, staticDeltaPath, listRemotes, addRemote, remoteUrl, deleteRemote, OstreeError, type PullProgress } from '../../node-ostree/index.js';

let dir: string;
let src: Repo;
let v1: string;
let v2: string;
let server: Server;
let url: string;
const requests: string[] = [];
/** While set, object requests are parked unanswered (a transfer that cannot finish), and `parked` is called. */
let holdObjects: { parked: (res: ServerResponse) => void } | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-transport-'));
  const t = join(dir, 'tree');
  await mkdir(join(t, 'usr/lib'), { recursive: true });
  // Random content so nothing compresses away and the delta has real work.
  for (let i = 0; i < 20; i++) await writeFile(join(t, 'usr/lib', `lib${i}.so`), randomBytes(50_000));
  src = await Repo.create(join(dir, 'src'), 'archive');
  v1 = (await commitDirectory(src, t, { ref: 'os/stable', timestamp: 1 })).checksum;
  await writeFile(join(t, 'usr/lib/lib3.so'), randomBytes(50_000));
  v2 = (await commitDirectory(src, t, { ref: 'os/stable', parent: v1, timestamp: 2 })).checksum;
  server = createServer((req, res) => {
    requests.push(req.url!);
    if (holdObjects && req.url!.includes('/objects/')) return holdObjects.parked(res);
    readFile(join(src.path, decodeURIComponent(req.url!.split('?')[0]!))).then(
      (b) => res.end(b),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  src.close();
  await new Promise<void>((r) => server.close(() => r()));
});

async function freshRepo(name: string): Promise<Repo> {
  return Repo.create(join(dir, name), 'bare-user');
}

describe('pull', () => {
  it('pulls from a local repository by ref and by checksum', async () => {
    const r = await freshRepo('local');
    await pull(r, src.path, { refs: [v1] });
    expect(r.hasObject('commit', v1)).toBe(true);
    expect(r.listRefs().size).toBe(0); // by checksum: no ref
    await pull(r, src.path, { refs: ['os/stable'] });
    expect(r.listRefs().get('os/stable')).toBe(v2);
    expect((await r.fsck('os/stable')).objects).toBeGreaterThan(20);
    r.close();
    // a relative path without a slash is a directory when no remote has that name
    const rel = await freshRepo('local-relative');
    const cwd = process.cwd();
    process.chdir(dirname(src.path));
    try {
      await pull(rel, basename(src.path), { refs: [v1] });
    } finally {
      process.chdir(cwd);
    }
    expect(rel.hasObject('commit', v1)).toBe(true);
    rel.close();
  });

  it('pulls over HTTP through a remote, reporting progress, and uses a static delta when one is published', async () => {
    await generateDelta(src, { from: v1, to: v2 });
    await regenerateSummary(src);
    const r = await freshRepo('http');
    await pull(r, src.path, { refs: [v1] });
    requests.length = 0;
    const events: PullProgress[] = [];
    const final = await pull(r, url, { refs: ['os/stable'], onProgress: (p) => events.push(p), progressIntervalMs: 5 });
    expect(final.deltaPartsTotal).toBe(1);
    expect(final.deltaPartsFetched).toBe(1);
    expect(final.bytes).toBeGreaterThan(40_000);
    expect(events.length).toBeGreaterThan(0);
    expect(requests.some((p) => p.startsWith('/deltas/'))).toBe(true);
    // The delta carries the one changed file. libostree scans the commit while the delta is being
    // applied and may race to fetch that object individually too, but never an unchanged one.
    expect(requests.filter((p) => /^\/objects\/.*\.filez$/.test(p)).length).toBeLessThanOrEqual(1);
    const remote = listRemotes(r)[0]!;
    expect(remoteUrl(r, remote)).toBe(url);
    expect(r.listRefs().get(`${remote}:os/stable`)).toBe(v2);
    expect((await r.fsck(v2)).objects).toBeGreaterThan(20);
    r.close();
  });

  it('pulls object by object without deltas when asked, by checksum over HTTP', async () => {
    const r = await freshRepo('nodelta');
    requests.length = 0;
    await pull(r, url, { refs: [v2], disableStaticDeltas: true });
    expect(requests.filter((p) => /^\/objects\/.*\.filez$/.test(p)).length).toBeGreaterThanOrEqual(20);
    expect(requests.some((p) => p.startsWith('/deltas/'))).toBe(false);
    expect(r.hasObject('commit', v2)).toBe(true);
    r.close();
  });

  it('can be cancelled mid-transfer, and a later pull completes', async () => {
    const r = await freshRepo('cancel');
    const ctl = new AbortController();
    // Cancelled while an object request is in flight, which the server never answers: the pull
    // cannot have finished first, however fast this machine is.
    const parked: ServerResponse[] = [];
    holdObjects = {
      parked: (res) => {
        parked.push(res);
        ctl.abort();
        // then the connection ends, so that the fetch in flight ends too
        setImmediate(() => res.destroy());
      },
    };
    const err = await pull(r, url, { refs: [v2], disableStaticDeltas: true, signal: ctl.signal }).catch((e: unknown) => e);
    holdObjects = undefined;
    expect(parked.length).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(OstreeError);
    expect((err as OstreeError).message).toMatch(/cancel/i);
    expect(r.hasObject('commit', v2)).toBe(false);
    await pull(r, url, { refs: [v2] });
    expect(r.hasObject('commit', v2)).toBe(true);
    r.close();
  });

  it('names a missing ref and an unreachable server', async () => {
    const r = await freshRepo('errors');
    await expect(pull(r, url, { refs: ['os/missing'] })).rejects.toThrow(/pulling os\/missing \(http:\/\/127\.0\.0\.1:\d+\): .*os\/missing/);
    await expect(pull(r, 'http://127.0.0.1:9', { refs: ['os/stable'] })).rejects.toThrow(OstreeError);
    await expect(pull(r, url, { refs: [] })).rejects.toThrow(/nothing to pull/);
    r.close();
  });
});

describe('remotes, deltas and summary', () => {
  it('adds, lists and deletes remotes as `ostree remote` sees them', async () => {
    const r = await freshRepo('remotes');
    await addRemote(r, 'origin', 'https://updates.example.invalid/repo');
    expect((await run('ostree', ['ostree', `--repo=${r.path}`, 'remote', 'list', '-u'])).stdout).toMatch(/origin\s+https:\/\/updates\.example\.invalid\/repo/);
    await expect(addRemote(r, 'origin', 'https://other.example.invalid')).rejects.toThrow(/origin/);
    await addRemote(r, 'origin', 'https://other.example.invalid', { replace: true });
    expect(remoteUrl(r, 'origin')).toBe('https://other.example.invalid');
    await deleteRemote(r, 'origin');
    expect(listRemotes(r)).toEqual([]);
    r.close();
  });

  it('generates deltas the CLI lists, applies a CLI-made delta offline, and writes a summary the CLI reads', async () => {
    expect((await run('ostree', ['ostree', `--repo=${src.path}`, 'static-delta', 'list'])).stdout).toContain(`${v1}-${v2}`);
    const file = join(dir, 'v2.delta');
    await run('ostree', ['ostree', `--repo=${src.path}`, 'static-delta', 'generate', '--empty', `--to=${v2}`, '--inline', `--filename=${file}`]);
    const r = await freshRepo('offline');
    await applyDeltaOffline(r, file);
    expect(r.hasObject('commit', v2)).toBe(true);
    await regenerateSummary(src);
    expect((await run('ostree', ['ostree', `--repo=${src.path}`, 'summary', '--view'])).stdout).toContain('os/stable');
    await expect(applyDeltaOffline(r, join(dir, 'nope.delta'))).rejects.toThrow(OstreeError);
    expect((await readdir(join(src.path, 'deltas'))).length).toBeGreaterThan(0);
    r.close();
  });

  it('names where a repository keeps a delta, as libostree writes it', async () => {
    await generateDelta(src, { from: v1, to: v2 });
    expect(existsSync(join(src.path, staticDeltaPath(v1, v2), 'superblock'))).toBe(true);
    await run('ostree', ['ostree', `--repo=${src.path}`, 'static-delta', 'generate', '--empty', `--to=${v1}`]);
    expect(existsSync(join(src.path, staticDeltaPath(null, v1), 'superblock'))).toBe(true);
    // modified base64: no padding, '/' written as '_' (all-ones bytes are all slashes)
    expect(staticDeltaPath(null, 'ff'.repeat(32))).toBe(`deltas/__/${'_'.repeat(40)}8`);
    expect(staticDeltaPath('00'.repeat(32), 'ff'.repeat(32))).toBe(`deltas/AA/${'A'.repeat(41)}-${'_'.repeat(42)}8`);
  });

  it('passes the bsdiff switch and size limit to libostree: a changed file goes as a patch only when allowed', async () => {
    const repo = await Repo.create(join(dir, 'bsdiff'), 'archive');
    const t = join(dir, 'bsdiff-tree');
    await mkdir(t, { recursive: true });
    const lib = randomBytes(600_000);
    await writeFile(join(t, 'lib.so'), lib);
    const a = (await commitDirectory(repo, t, { timestamp: 1 })).checksum;
    // One byte in every 2 KB: no rolling-checksum chunk survives, so only bsdiff can save bytes.
    for (let i = 0; i < lib.length; i += 2048) lib[i] = lib[i]! ^ 0xff;
    await writeFile(join(t, 'lib.so'), lib);
    const b = (await commitDirectory(repo, t, { timestamp: 2, parent: a })).checksum;
    const size = async (options: object) => {
      await rm(join(repo.path, 'deltas'), { recursive: true, force: true });
      await generateDelta(repo, { from: a, to: b, ...options });
      return treeBytes(join(repo.path, 'deltas'));
    };
    expect(await size({})).toBeLessThan(100_000);
    expect(await size({ bsdiff: false })).toBeGreaterThan(600_000);
    // old + new = 1.2 MB, over a 1 MB limit: sent whole
    expect(await size({ maxBsdiffSizeBytes: 1_000_000 })).toBeGreaterThan(600_000);
    expect(await size({ bsdiff: true, maxBsdiffSizeBytes: 2_000_000 })).toBeLessThan(100_000);
    repo.close();
  });
});

async function treeBytes(path: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(path, { withFileTypes: true, recursive: true })) if (e.isFile()) n += (await stat(join(e.parentPath, e.name))).size;
  return n;
}
