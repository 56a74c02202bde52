import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../common/exec.js';
import { Repo, commitDirectory, decodeVariant, encodeMetadata, GVariantValue, readCommit, regenerateSummary, signSummaryGpg, writeCommit } from '../../node-ostree/index.js';
import { ostree } from '../helpers/ostree-cli.js';
import { disposeGpgKey, makeGpgKey, type GpgKey } from '../helpers/fixture-archive.js';

// writeCommit: a commit of an existing root with a chosen parent and metadata (what `ota publish`
// makes of a built commit), read back through the ostree CLI; signSummaryGpg checked by a
// stock `ostree remote summary` with the remote's keyring.

let dir: string;
let repo: Repo;
let built: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-writecommit-'));
  await mkdir(join(dir, 'tree/etc'), { recursive: true });
  await writeFile(join(dir, 'tree/etc/os-release'), 'ID=test\n');
  repo = await Repo.create(join(dir, 'repo'), 'archive');
  built = (await commitDirectory(repo, join(dir, 'tree'), { timestamp: 1_700_000_000, subject: 'built' })).checksum;
});
afterAll(async () => {
  repo.close();
  await rm(dir, { recursive: true, force: true });
});

describe('writeCommit', () => {
  it('writes the root with another parent and metadata, the same checksum for the same inputs', async () => {
    const c = readCommit(repo, built);
    const root = { contents: c.rootContents, meta: c.rootMeta };
    const metadata = encodeMetadata({ version: new GVariantValue('s', '1.0') });
    const first = await writeCommit(repo, root, { metadata, timestamp: c.timestamp, subject: 'release 1.0' });
    const again = await writeCommit(repo, root, { metadata, timestamp: c.timestamp, subject: 'release 1.0' });
    expect(again.checksum).toBe(first.checksum);
    const second = await writeCommit(repo, root, { parent: first.checksum, metadata: encodeMetadata({ version: new GVariantValue('s', '1.1') }), timestamp: c.timestamp });
    const read = readCommit(repo, second.checksum);
    expect(read.parent).toBe(first.checksum);
    expect([read.rootContents, read.rootMeta]).toEqual([c.rootContents, c.rootMeta]);
    expect(read.metadata.get('version')?.value).toBe('1.1');
    repo.setRef('os', second.checksum);
    const log = await ostree([`--repo=${repo.path}`, 'log', 'os']);
    expect(log).toContain(`commit ${second.checksum}`);
    expect(log).toContain(`commit ${first.checksum}`);
    expect(log).toMatch(/Version: 1\.1/);
    await expect(ostree([`--repo=${repo.path}`, 'cat', 'os', '/etc/os-release'])).resolves.toBe('ID=test\n');
  });

  it('refuses a root that is not in the repository', async () => {
    await expect(writeCommit(repo, { contents: 'a'.repeat(64), meta: 'b'.repeat(64) })).rejects.toThrow();
  });
});

describe('signSummaryGpg', () => {
  let key: GpgKey;
  beforeAll(async () => {
    key = await makeGpgKey(dir, 'Summary Key');
  });
  afterAll(async () => disposeGpgKey(key));

  it('adds a GPG signature that a stock client verifies the summary with', async () => {
    await regenerateSummary(repo);
    await signSummaryGpg(repo, key.fingerprint, key.home);
    const sig = decodeVariant('a{sv}', await readFile(join(repo.path, 'summary.sig'))) as [string, GVariantValue][];
    expect(sig.map(([k]) => k)).toEqual(['ostree.gpgsigs']);
    /** A fresh client (libostree caches a summary whose signature it saw before). */
    const client = async (name: string): Promise<string> => {
      (await Repo.create(join(dir, name), 'bare-user')).close();
      const c = `--repo=${join(dir, name)}`;
      await ostree([c, 'remote', 'add', '--set=gpg-verify-summary=true', `--gpg-import=${key.keyring}`, 'pub', `file://${repo.path}`]);
      return c;
    };
    expect(await ostree([await client('client'), 'remote', 'summary', 'pub'])).toMatch(/Good signature/);
    // One changed byte in the summary: the signature no longer verifies.
    const summary = await readFile(join(repo.path, 'summary'));
    summary[summary.length - 1]! ^= 1;
    await writeFile(join(repo.path, 'summary'), summary);
    const bad = await run('ostree remote summary', ['ostree', await client('client2'), 'remote', 'summary', 'pub'], { okCodes: [0, 1] });
    expect(bad.code).toBe(1);
  });
});
