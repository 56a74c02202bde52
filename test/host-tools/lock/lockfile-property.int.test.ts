import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ota } from '../../helpers/cli.js';
import { buildArchive, disposeGpgKey, makeGpgKey, serveDirectory, type FixtureServer, type GpgKey } from '../../helpers/fixture-archive.js';
import { MIRROR_VAR, workspace, writeManifest } from '../../helpers/lock-harness.js';

// A property of `ota lock --check` and `ota build` on a lockfile with random bytes in one field:
// nothing is written outside the build's repository and cache (a sentinel file sits where a
// `../` in a field would lead), and every refusal is an OtaError: `--check` exits 2 for a lock
// that is not what `ota lock` writes, or 3 for a well-formed one that no longer satisfies the
// manifest (its documented code); the build refuses both with 2 before it creates anything. A
// lock that passes the check is built: the fixture image has no dpkg, so the build then stops in
// stage 2 with an OtaError (exit 1), after fetching from the real archive on 127.0.0.1.
// Seeded and bounded: every field of every stanza (and each word of the Sources line) is
// mutated ROUNDS times.

const SEED = 0x5eed0b7a;
const ROUNDS = 2;
const HOSTILE = ['../../sentinel/victim', '/etc/passwd', '..', '', 'x\nSHA256: ../../sentinel/victim', 'x\n\nPackage: evil', `${'9'.repeat(400)}`, ' ', '%2e%2e/%2e%2e/sentinel', 'http://127.0.0.1:1/x?y#z'];

/** mulberry32: a small seeded PRNG, so a failure names an iteration that reruns the same. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomValue(rand: () => number): Buffer {
  if (rand() < 0.25) return Buffer.from(HOSTILE[Math.floor(rand() * HOSTILE.length)]!, 'latin1');
  return Buffer.from(Array.from({ length: Math.floor(rand() * 24) }, () => Math.floor(rand() * 256)));
}

/** Where a value sits in the lock text: [start, end) of a field's value, or of one word of a Sources line. */
function valueSpans(text: string): { label: string; start: number; end: number }[] {
  const spans: { label: string; start: number; end: number }[] = [];
  let stanza = 0;
  let pos = 0;
  for (const line of text.split('\n')) {
    if (line === '') stanza++;
    else if (line.startsWith(' ')) {
      let at = pos + 1;
      line.slice(1).split(' ').forEach((w, i) => {
        spans.push({ label: `stanza ${stanza} Sources word ${i}`, start: at, end: at + w.length });
        at += w.length + 1;
      });
    } else {
      const colon = line.indexOf(':');
      const start = pos + colon + (line[colon + 1] === ' ' ? 2 : 1);
      if (line.slice(colon + 1).trim() !== '') spans.push({ label: `stanza ${stanza} ${line.slice(0, colon)}`, start, end: pos + line.length });
    }
    pos += line.length + 1;
  }
  return spans;
}

/** Every path under `dir`, except under the `skip` dirs. */
async function tree(dir: string, skip: string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (skip.includes(p)) continue;
      out.push(p);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out.sort();
}

let tmp: string;
let key: GpgKey;
let server: FixtureServer;
let base: { manifest: string; lock: string };

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-lock-property-'));
  key = await makeGpgKey(tmp);
  const archive = await buildArchive(
    path.join(tmp, 'archive'),
    [{ suite: 'stable', arches: ['amd64'], date: new Date('2024-03-01T12:00:00Z'), components: { main: [{ name: 'app', version: '1.0-1', depends: 'libmid (>= 1.0)' }, { name: 'libmid', version: '1.0-1' }] } }],
    { key },
  );
  server = await serveDirectory(archive.root);
  const ws = await workspace(tmp, 'base');
  await writeManifest(ws.manifest, { sources: [{ suites: ['stable'], keyring: key.armored }], packages: ['app'] });
  vi.stubEnv(MIRROR_VAR, server.url);
  vi.stubEnv('OTA_CACHE_DIR', ws.cacheDir);
  expect((await ota('lock', ws.manifest)).code).toBe(0);
  vi.unstubAllEnvs();
  base = { manifest: await readFile(ws.manifest, 'utf8'), lock: await readFile(ws.lockPath, 'utf8') };
  await mkdir(path.join(tmp, 'fuzz', 'sentinel'), { recursive: true });
  await writeFile(path.join(tmp, 'fuzz', 'sentinel', 'victim.deb'), 'x\n');
}, 60_000);

afterAll(async () => {
  vi.unstubAllEnvs();
  await server?.close();
  if (key) await disposeGpgKey(key);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('a lockfile with random bytes in a field', () => {
  it('is refused with an OtaError and exit 2 (or 3 from --check), or built, and nothing is written outside the repository and cache', async () => {
    const rand = prng(SEED);
    const spans = valueSpans(base.lock);
    expect(spans.length).toBeGreaterThan(30);
    const outcomes: Record<string, number> = {};
    vi.stubEnv(MIRROR_VAR, server.url);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [n, span] of spans.entries()) {
        const value = randomValue(rand);
        const what = `round ${round}, ${span.label} = ${JSON.stringify(value.toString('latin1'))}`;
        const dir = path.join(tmp, 'fuzz', `it-${round}-${n}`);
        await mkdir(dir);
        const [manifest, lockPath, repo, cache] = ['image.yaml', 'image.lock', 'repo', 'cache'].map((f) => path.join(dir, f)) as [string, string, string, string];
        const lockBytes = Buffer.concat([Buffer.from(base.lock.slice(0, span.start)), value, Buffer.from(base.lock.slice(span.end))]);
        await writeFile(manifest, base.manifest);
        await writeFile(lockPath, lockBytes);
        const before = await tree(tmp, [repo, cache]);

        const check = await ota('lock', '--check', manifest);
        expect(check.err, what).not.toContain('internal error');
        expect([0, 2, 3], `${what}: --check exit ${check.code}\n${check.err}`).toContain(check.code);
        if (check.code !== 0) expect(check.err, what).toMatch(/^error: /m);

        const built = await ota('build', lockPath, '--repo', repo, '--cache-dir', cache);
        expect(built.err, what).not.toContain('internal error');
        expect(built.err, what).toMatch(/^error: /m);
        if (check.code !== 0) {
          expect(built.code, `${what}: build exit ${built.code}\n${built.err}`).toBe(2);
          expect(existsSync(repo) || existsSync(cache), `${what}: a refused build created its repository or cache`).toBe(false);
        } else {
          expect([1, 2], `${what}: build exit ${built.code}\n${built.err}`).toContain(built.code);
        }
        expect(await readFile(lockPath), what).toEqual(lockBytes);
        expect(await tree(tmp, [repo, cache]), `${what}: files outside the repository and cache`).toEqual(before);
        const key = `check ${check.code} build ${built.code}`;
        outcomes[key] = (outcomes[key] ?? 0) + 1;
      }
    }
    expect(await readFile(path.join(tmp, 'fuzz', 'sentinel', 'victim.deb'), 'utf8')).toBe('x\n');
    // The property covered both paths: refusals, and locks that passed and were built.
    expect(Object.keys(outcomes).some((k) => k.startsWith('check 2'))).toBe(true);
    expect(Object.keys(outcomes).some((k) => k.startsWith('check 0'))).toBe(true);
  }, 300_000);
});
