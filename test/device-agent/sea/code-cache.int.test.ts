import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../common/exec.js';

// The one-file agent's code cache (docs/agent.md, "Shipping the agent"), each run a real Node process, since the
// cache is written as the process exits.

const REPO = join(import.meta.dirname, '../../..');
let tmp: string;
let probe: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ota-code-cache-'));
  probe = join(tmp, 'probe.mts');
  await writeFile(
    probe,
    `import { runWithCodeCache } from ${JSON.stringify(join(REPO, 'device-agent/sea/code-cache.ts'))};
const source = 'module.exports = function twice(x) { return [x, x].join(" ") };';
const r = runWithCodeCache({ source, filename: 'probe.cjs', params: ['module'], dir: process.argv[2], sourceSha256: process.argv[3] });
const m = { exports: null };
r.value(m);
console.log(JSON.stringify({ cache: r.cache, out: m.exports('hi') }));
`,
  );
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function probeRun(dir: string, flags: string[] = [], sourceSha256?: string): Promise<{ cache: string; out: string }> {
  const r = await run('code cache probe', [process.execPath, ...flags, '--import', 'tsx', probe, dir, ...(sourceSha256 === undefined ? [] : [sourceSha256])], { cwd: REPO });
  return JSON.parse(r.stdout) as { cache: string; out: string };
}

async function caches(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.v8cache')).sort();
}

describe('runWithCodeCache', () => {
  it('writes the cache as the first process exits (0400), and the next process runs from it', async () => {
    const dir = await mkdtemp(join(tmp, 'a-'));
    expect(await probeRun(dir)).toEqual({ cache: 'miss', out: 'hi hi' });
    const [file] = await caches(dir);
    expect(file).toMatch(/^probe\.cjs-[0-9a-f]{32}\.v8cache$/);
    expect((await stat(join(dir, file!))).mode & 0o777).toBe(0o400);
    expect(await probeRun(dir)).toEqual({ cache: 'hit', out: 'hi hi' });
  }, 60_000);

  it('a damaged cache is refused by V8, the script still runs, and the file is written again', async () => {
    const dir = await mkdtemp(join(tmp, 'b-'));
    await probeRun(dir);
    const [file] = await caches(dir);
    await chmod(join(dir, file!), 0o600);
    await writeFile(join(dir, file!), Buffer.alloc(2048, 7));
    expect(await probeRun(dir)).toEqual({ cache: 'rejected', out: 'hi hi' });
    expect(await probeRun(dir)).toEqual({ cache: 'hit', out: 'hi hi' });
  }, 60_000);

  it('other Node flags keep a cache of their own', async () => {
    const dir = await mkdtemp(join(tmp, 'c-'));
    await probeRun(dir);
    expect(await probeRun(dir, ['--max-semi-space-size=2'])).toEqual({ cache: 'miss', out: 'hi hi' });
    expect(await caches(dir)).toHaveLength(2);
  }, 60_000);

  it("keys the file by the build's hash of the source when given, and by hashing the source otherwise", async () => {
    const dir = await mkdtemp(join(tmp, 'd-'));
    const built = 'a'.repeat(64);
    expect(await probeRun(dir, [], built)).toEqual({ cache: 'miss', out: 'hi hi' });
    expect(await probeRun(dir, [], built)).toEqual({ cache: 'hit', out: 'hi hi' });
    expect(await probeRun(dir)).toEqual({ cache: 'miss', out: 'hi hi' });
    expect(await probeRun(dir, [], 'b'.repeat(64))).toEqual({ cache: 'miss', out: 'hi hi' });
    expect(await caches(dir)).toHaveLength(3);
  }, 60_000);
});
