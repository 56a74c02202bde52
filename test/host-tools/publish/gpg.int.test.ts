import { createServer, type Server } from 'node:http';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listGpgKeys, stopGpgAgent } from '../../../host-tools/keys/gpg.js';
import { publish } from '../../../host-tools/publish/publish.js';
import { decodeVariant, encodeVariant, GVariantValue, Repo } from '../../../node-ostree/index.js';
import { ostree, ostreeStatus } from '../../helpers/ostree-cli.js';
import { buildRepo, releaseKey, type BuildRepo } from './harness.js';

// Stock OSTree clients that verify GPG: the ostree CLI pulls a GPG-signed published repository
// with gpg-verify and gpg-verify-summary on, the key imported from release.gpg, and refuses the
// commit once its GPG signature is gone. Served over HTTP on 127.0.0.1, so the client takes the
// static delta as a device would.

const REF = 'gw/arm64';
let dir: string;
let b: BuildRepo;
let key: Awaited<ReturnType<typeof releaseKey>>;
let pub: string;
let firstBuild: string;
let server: Server;
let url: string;
const requests: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-publish-gpg-'));
  b = await buildRepo(dir);
  key = await releaseKey(join(dir, 'k'), { gpg: true });
  pub = join(dir, 'pub');
  firstBuild = await b.build(REF, [{ name: 'libc6', version: '2.36-9' }]);
  await publish({ repoPath: b.path, to: pub, key: key.dir, ref: REF, version: '1.0' });
  await b.build(REF, [{ name: 'libc6', version: '2.36-10' }, { name: 'curl', version: '7.88' }]);
  await publish({ repoPath: b.path, to: pub, key: key.dir, ref: REF, version: '1.1' });
  // A plain static file server on loopback: what nginx or a bucket would be.
  server = createServer((req, res) => {
    requests.push(req.url!);
    readFile(join(pub, 'repo', decodeURIComponent(req.url!.split('?')[0]!))).then((body) => res.end(body), () => res.writeHead(404).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await stopGpgAgent(join(key.dir, 'gpg'));
  await rm(dir, { recursive: true, force: true });
});

async function client(name: string, from?: string): Promise<string> {
  const repo = `--repo=${join(dir, name)}`;
  await ostree([repo, 'init', '--mode=bare-user']);
  await ostree([repo, 'remote', 'add', '--set=gpg-verify=true', '--set=gpg-verify-summary=true', `--gpg-import=${join(key.dir, 'release.gpg')}`, 'pub', from ? `file://${join(from, 'repo')}` : url]);
  return repo;
}

describe('a GPG-signed published repository', () => {
  it('is pulled by a stock ostree client verifying commit and summary signatures, through the delta', async () => {
    const repo = await client('client');
    const previous = (await ostree([`--repo=${join(pub, 'repo')}`, 'rev-parse', `${REF}^`])).trim();
    await ostree([repo, 'pull', 'pub', previous]);
    requests.length = 0;
    await ostree([repo, 'pull', 'pub', REF]);
    expect(requests.some((r) => r.startsWith('/deltas/'))).toBe(true);
    expect(requests).toContain('/summary.sig');
    expect(await ostree([repo, 'show', `pub:${REF}`, '--gpg-verify-remote=pub'])).toMatch(/Good signature/);
    expect(await ostree([repo, 'rev-parse', `pub:${REF}`])).toBe(await ostree([`--repo=${join(pub, 'repo')}`, 'rev-parse', REF]));
  });

  it('a publish rerun after one stopped once the commit was signed completes (the commit is the same, signed once)', async () => {
    const again = join(dir, 'pub-rerun');
    const stopped = await publish({ repoPath: b.path, to: again, key: key.dir, ref: REF, version: '1.0', stopAfter: 4 });
    expect(stopped.steps.at(-1)).toBe('sign');
    const r = await publish({ repoPath: b.path, to: again, key: key.dir, ref: REF, version: '1.0' });
    expect(r.commit).toBe(stopped.commit);
    const meta = new Map(decodeVariant('a{sv}', (await readFile(join(again, 'repo/objects', r.commit.slice(0, 2), `${r.commit.slice(2)}.commitmeta`)))) as [string, GVariantValue][]);
    expect((meta.get('ostree.gpgsigs')!.value as Buffer[]).length).toBe(1);
  });

  it('keeps the summary GPG-verifiable while a publish swaps it in, up to the summary itself', async () => {
    const staged = join(dir, 'pub-swap');
    await publish({ repoPath: b.path, to: staged, key: key.dir, ref: REF, version: '1.0', commit: firstBuild });
    for (const step of ['summary-sig-both', 'summary-sig']) {
      const at = join(dir, `pub-${step}`);
      await cp(staged, at, { recursive: true, verbatimSymlinks: true });
      const r = await publish({ repoPath: b.path, to: at, key: key.dir, ref: REF, version: '1.1', stopAfter: 1 + ['objects', 'commit', 'sign', 'deltas', 'manifest', 'summary-stage', 'ref', 'summary-sig-both', 'summary', 'summary-sig'].indexOf(step) });
      expect(r.steps.at(-1)).toBe(step);
      const repo = `--repo=${join(dir, `client-${step}`)}`;
      await ostree([repo, 'init', '--mode=bare-user']);
      await ostree([repo, 'remote', 'add', '--set=gpg-verify-summary=true', `--gpg-import=${join(key.dir, 'release.gpg')}`, 'pub', `file://${join(at, 'repo')}`]);
      expect(await ostree([repo, 'remote', 'summary', 'pub'])).toMatch(/Good signature/);
    }
  });

  it('signs with --gpg-homedir and --gpg-key-id when the key DIR has no gpg/', async () => {
    const plain = await releaseKey(join(dir, 'plain-key'));
    const fpr = (await listGpgKeys(join(key.dir, 'gpg')))[0]!.fingerprint;
    const to = join(dir, 'pub-homedir');
    const r = await publish({ repoPath: b.path, to, key: plain.dir, ref: REF, version: '1', gpgHomedir: join(key.dir, 'gpg'), gpgKeyId: fpr });
    const repo = await client('client-homedir', to);
    await ostree([repo, 'pull', 'pub', REF]);
    const shown = await ostree([repo, 'show', r.commit, '--gpg-verify-remote=pub']);
    expect(shown).toMatch(/Good signature/);
    expect(shown).toContain(fpr.slice(-16));
    await expect(publish({ repoPath: b.path, to: join(dir, 'pub-nohome'), key: plain.dir, ref: REF, version: '1', gpgKeyId: fpr })).rejects.toThrow(/--gpg-key-id needs a GnuPG home/);
  });

  it('is refused once the commit has lost its GPG signature', async () => {
    const r = await Repo.open(join(pub, 'repo'));
    try {
      const head = r.resolve(REF);
      const meta = decodeVariant('a{sv}', r.readDetachedMetadata(head)!) as [string, GVariantValue][];
      expect(meta.map(([k]) => k).sort()).toEqual(['ostree.gpgsigs', 'ostree.sign.ed25519']);
      r.writeDetachedMetadata(head, encodeVariant('a{sv}', meta.filter(([k]) => k !== 'ostree.gpgsigs')));
    } finally {
      r.close();
    }
    const repo = await client('client-unsigned');
    const res = await ostreeStatus([repo, 'pull', 'pub', REF]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/GPG signatures found, but none are in trusted keyring|No signatures found|GPG/i);
  });
});
