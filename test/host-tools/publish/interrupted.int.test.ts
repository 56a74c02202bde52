import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start } from '../../../common/exec.js';
import { publish } from '../../../host-tools/publish/publish.js';
import { buildRepo, releaseKey, type BuildRepo } from './harness.js';
import { publishedVersion } from './valid.js';

// A publish stopped after each of its steps, in-process, and one killed with SIGKILL as its own
// process: every time, the published tree holds a valid release, the previous one or the new
// one whole (docs/releases.md, "The published directory").

const OTA = join(import.meta.dirname, '../../helpers/ota-cli.ts');
const REF = 'gw/arm64';
let dir: string;
let b: BuildRepo;
let key: Awaited<ReturnType<typeof releaseKey>>;
let template: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-publish-kill-'));
  b = await buildRepo(dir);
  key = await releaseKey(join(dir, 'keys'));
  template = join(dir, 'template');
  await b.build(REF, [{ name: 'libc6', version: '2.36-9' }, { name: 'bash', version: '5.2-1' }]);
  await publish({ repoPath: b.path, to: template, key: key.dir, ref: REF, version: '1.0', group: 'lab' });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a publish that stops part way', () => {
  it('leaves a valid release after every step: the previous one until the ref moves, then the new one', async () => {
    await b.build(REF, [{ name: 'libc6', version: '2.36-10' }, { name: 'bash', version: '5.2-1' }, { name: 'curl', version: '7.88' }]);
    const full = await publish({ repoPath: b.path, to: join(dir, 'full'), key: key.dir, ref: REF, version: '0.1', group: 'lab' });
    const steps = full.steps.filter((s) => s !== 'init');
    const seen: string[] = [];
    for (let k = 0; k <= steps.length; k++) {
      const pub = join(dir, `stop-${k}`);
      await cp(template, pub, { recursive: true, verbatimSymlinks: true });
      const r = await publish({ repoPath: b.path, to: pub, key: key.dir, ref: REF, version: '2.0', group: 'lab', stopAfter: k });
      expect(r.steps).toEqual(steps.slice(0, k));
      seen.push(await publishedVersion(pub, REF, key.dir, 'lab'));
      await rm(pub, { recursive: true, force: true });
    }
    const moved = steps.indexOf('ref') + 1;
    expect(seen).toEqual([...Array<string>(moved).fill('1.0'), ...Array<string>(steps.length + 1 - moved).fill('2.0')]);
  });

  it('killed with SIGKILL while it makes its deltas, it leaves the previous release valid, and a rerun publishes', async () => {
    // Large random files: the delta takes long enough that the kill lands while it is made.
    await b.build(REF, [{ name: 'libc6', version: '2.36-11' }, { name: 'bash', version: '5.3-1' }, { name: 'firmware', version: '1' }], { bytes: 4_000_000 });
    const pub = join(dir, 'killed');
    await cp(template, pub, { recursive: true, verbatimSymlinks: true });
    const child = start('ota publish', [process.execPath, '--import', 'tsx', OTA, 'publish', '--repo', b.path, '--to', pub, '--key', key.dir, '--ref', REF, '--version', '3.0', '--group', 'lab', '--delta-from', '1.0']);
    child.onStderr((text) => {
      if (text.includes('generating static deltas')) child.kill('SIGKILL');
    });
    const { signal, stderr } = await child.exited;
    expect(signal, stderr).toBe('SIGKILL');
    expect(await publishedVersion(pub, REF, key.dir, 'lab')).toBe('1.0');
    await publish({ repoPath: b.path, to: pub, key: key.dir, ref: REF, version: '3.0', group: 'lab' });
    expect(await publishedVersion(pub, REF, key.dir, 'lab')).toBe('3.0');
  });
});
