import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repo, commitDirectory, generateDelta } from '../../../node-ostree/index.js';
import { deltaDir, generateReleaseDelta, measureDelta } from '../../../host-tools/publish/delta.js';
import { ostree } from '../../helpers/ostree-cli.js';

let dir: string;
let repo: Repo;
let v1: string;
let v2: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-delta-'));
  const t = join(dir, 'tree');
  await mkdir(join(t, 'usr/lib'), { recursive: true });
  for (let i = 0; i < 5; i++) await writeFile(join(t, 'usr/lib', `lib${i}.so`), randomBytes(40_000));
  repo = await Repo.create(join(dir, 'repo'), 'archive');
  v1 = (await commitDirectory(repo, t, { timestamp: 1 })).checksum;
  await writeFile(join(t, 'usr/lib/lib1.so'), randomBytes(40_000));
  // Larger than libostree's default fallback size (4 MB): fetched as a plain object.
  await writeFile(join(t, 'usr/lib/big.so'), randomBytes(5_000_000));
  v2 = (await commitDirectory(repo, t, { timestamp: 2, parent: v1 })).checksum;
});
afterAll(async () => {
  repo.close();
  await rm(dir, { recursive: true, force: true });
});

/** A number from `ostree static-delta show`'s "Label: N (...)" line. */
function shown(text: string, label: string): number {
  const m = new RegExp(`^${label}: (\\d+)`, 'm').exec(text);
  if (!m) throw new Error(`no "${label}" in:\n${text}`);
  return Number(m[1]);
}

describe('generateReleaseDelta', () => {
  it('counts what a device downloads, fallbacks included, as ostree shows the delta', async () => {
    // libostree's defaults, not the release tuning: the 5 MB file becomes a fallback object.
    await generateDelta(repo, { from: v1, to: v2 });
    const d = await measureDelta(repo, v1, v2);
    const show = await ostree([`--repo=${repo.path}`, 'static-delta', 'show', `${v1}-${v2}`]);
    const superblock = (await stat(join(repo.path, deltaDir(v1, v2), 'superblock'))).size;
    expect(d.parts).toBe(shown(show, 'Number of parts'));
    expect(shown(show, 'Number of fallback entries')).toBe(1);
    expect(d.fallbackBytes).toBe(shown(show, 'Total Fallback Size'));
    expect(d.fallbackBytes).toBeGreaterThan(5_000_000);
    expect(d.bytes).toBe(superblock + shown(show, 'Total Part Size') + d.fallbackBytes);
  });

  it('generates the release delta ostree lists, measured the same way', async () => {
    const d = await generateReleaseDelta(repo, { from: v1, to: v2 });
    expect(d).toMatchObject({ from: v1, to: v2 });
    const list = await ostree([`--repo=${repo.path}`, 'static-delta', 'list']);
    expect(list).toContain(`${v1}-${v2}`);
    const show = await ostree([`--repo=${repo.path}`, 'static-delta', 'show', `${v1}-${v2}`]);
    const superblock = (await stat(join(repo.path, deltaDir(v1, v2), 'superblock'))).size;
    expect(d.parts).toBe(shown(show, 'Number of parts'));
    expect(d.fallbackBytes).toBe(shown(show, 'Total Fallback Size'));
    expect(d.bytes).toBe(superblock + shown(show, 'Total Part Size') + d.fallbackBytes);
  });

  it('resolves refs and names the missing commit', async () => {
    await expect(generateReleaseDelta(repo, { from: 'nope', to: v2 })).rejects.toThrow(/nope/);
  });
});
