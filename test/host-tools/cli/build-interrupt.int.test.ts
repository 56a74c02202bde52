import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, start, type Started } from '../../../common/exec.js';
import { build } from '../../../host-tools/compose/build.js';
import { debControlRef, debDataRef } from '../../../host-tools/compose/plan-debs.js';
import { readLock } from '../../../host-tools/lock/lockfile.js';
import { Repo } from '../../../node-ostree/index.js';
import { fixtureImage, type FixtureImage } from '../../helpers/build-harness.js';
import type { FixturePackage } from '../../helpers/fixture-archive.js';

// `ota build` as its own process (the CLI from the sources, through tsx, so that no stale dist/
// is tested), killed or interrupted part way through a fixture image (the host's real base debs plus fixture packages
// from an archive served on 127.0.0.1).

const OTA = join(import.meta.dirname, '../../helpers/ota-cli.ts');
// A number no other process on the machine sleeps for, so that ps finds this one.
const SLEEP = 3141;

const PACKAGES = (nonce: string): FixturePackage[] => [
  { name: 'fx-stall', version: '1', arch: 'amd64', files: { '/usr/share/fx/stall': nonce } },
  { name: 'fx-sleep', version: '1', arch: 'amd64', files: { '/usr/share/fx/sleep': 'zzz\n' }, scripts: { postinst: `#!/bin/sh\nsleep ${SLEEP}\n` } },
];

let root: string;
let fx: FixtureImage;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ota-signals-'));
  // A nonce in fx-stall: its deb is in no cache yet, so the build has to download it.
  fx = await fixtureImage(join(root, 'fx'), 'amd64', PACKAGES(randomBytes(8).toString('hex')));
}, 600_000);
afterAll(async () => {
  fx?.server.close();
  await rm(root, { recursive: true, force: true });
});

function ota(args: string[]): Started {
  return start('ota build', [process.execPath, '--import', 'tsx', OTA, ...args], { env: { ...fx.env, CI: '1' } });
}

/** Waits for something the child will do; fails with `what` if the child ends first. */
async function until(child: Started, what: string, ready: () => boolean | Promise<boolean>): Promise<void> {
  let ended = false;
  void child.exited.then(() => (ended = true));
  while (!(await ready())) {
    if (ended) throw new Error(`the build ended before ${what}: ${(await child.exited).stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function processes(needle: string): Promise<string[]> {
  return (await run('list processes', ['ps', '-eo', 'args'])).stdout.split('\n').filter((l) => l.includes(needle));
}

describe('ota build, interrupted', () => {
  it('keeps the debs imported before it was killed in the middle of the imports, and the rerun imports only the rest', async () => {
    await fx.writeManifest(['fx-stall']);
    const repoPath = join(root, 'repo-killed');
    fx.server.fail('fx-stall_1_amd64.deb', 'hang');
    const child = ota(['build', fx.manifest, '--repo', repoPath, '--cache-dir', fx.cacheDir, '--jobs', '1']);
    // The debs in the cache are imported first; the download of fx-stall then never ends.
    await until(child, 'downloading fx-stall', () => fx.server.requests.some((r) => r.endsWith('fx-stall_1_amd64.deb')));
    child.kill('SIGKILL');
    await child.exited;

    const lock = readLock(await readFile(fx.lockPath, 'utf8'), fx.lockPath);
    const others = [...lock.packages.values()].filter((c) => c.name !== 'fx-stall');
    expect(others.length).toBeGreaterThan(5);
    const repo = await Repo.open(repoPath);
    const missing = others.filter((c) => !repo.resolve(debDataRef(c.sha256!), { allowMissing: true }) || !repo.resolve(debControlRef(c.sha256!), { allowMissing: true }));
    repo.close();
    expect(missing.map((c) => c.name)).toEqual([]);

    const again = await build({ inputs: [fx.lockPath], repoPath, cacheDir: fx.cacheDir, env: fx.env });
    expect(again.debs).toMatchObject({ reused: others.length, imported: 1, downloaded: 1 });
  }, 600_000);

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('stops on %s while a maintainer script runs: kills the namespace, removes the work directory, says so in one line, exits %i', async (sig, code) => {
    await fx.writeManifest(['fx-sleep']);
    const repoPath = join(root, `repo-${sig}`);
    const child = ota(['build', fx.manifest, '--repo', repoPath, '--cache-dir', fx.cacheDir]);
    await until(child, `fx-sleep's postinst ran`, async () => (await processes(`sleep ${SLEEP}`)).length > 0);
    child.kill(sig);
    const r = await child.exited;

    expect({ code: r.code, signal: r.signal }).toEqual({ code, signal: null });
    const lines = r.stderr.trim().split('\n').filter((l) => /interrupt/i.test(l));
    expect(lines).toEqual([`error: ota build interrupted by ${sig} while configuring fx/amd64 (its work directory is removed)`]);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(lines[0]);
    expect(await processes(`sleep ${SLEEP}`)).toEqual([]);
    expect(await processes(repoPath)).toEqual([]);
    const tmp = join(repoPath, 'tmp');
    expect(existsSync(tmp) ? readdirSync(tmp).filter((n) => n.startsWith('ota-stage2-')) : []).toEqual([]);
    expect(r.stdout).toBe('');
  }, 600_000);
});
