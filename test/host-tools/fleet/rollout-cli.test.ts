import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ota } from '../../helpers/cli.js';

// Bad input to `ota fleet rollout|pause|resume|abort` is refused before any broker is contacted (the URL
// below has nothing listening) and writes nothing (docs/conventions.md, "Errors").
let dir: string;
const BROKER = 'mqtt://127.0.0.1:1';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-rollout-cli-'));
  await writeFile(join(dir, 'release.jws'), 'not a release\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const rollout = (...more: string[]) => ota('fleet', 'rollout', '--group', 'lab', '--release', join(dir, 'release.jws'), '--key', join(dir, 'keys'), '--broker', BROKER, '--state', join(dir, 'state.json'), ...more);

describe('ota fleet rollout: bad input changes nothing', () => {
  it.each([
    [['--waves', '10%,5%,100%'], /--waves "10%,5%,100%"/],
    [['--waves', '1%,10%'], /ending with 100%/],
    [['--soak', 'ten'], /--soak "ten"/],
    [['--max-failure-rate', '120%'], /--max-failure-rate/],
    [['--min-devices', '0'], /--min-devices/],
    [['--id', 'a/b'], /invalid rollout id/],
  ])('%j is refused as usage', async (args, message) => {
    const r = await rollout(...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(await readdir(dir)).toEqual(['release.jws']);
  });

  it('a missing key or a file that is no release is refused before the broker', async () => {
    const r = await rollout();
    expect(r.code).not.toBe(0);
    expect(r.err).not.toMatch(/127\.0\.0\.1:1/);
    expect(await readdir(dir)).toEqual(['release.jws']);
  });

  it('pause, resume and abort of a group without a rollout say where they looked', async () => {
    for (const verb of ['pause', 'resume', 'abort']) {
      const r = await ota('fleet', verb, 'lab', '--key', join(dir, 'keys'), '--broker', BROKER, '--state', join(dir, 'none.json'));
      expect(r.code, verb).toBe(2);
      expect(r.err).toContain(`no rollout of group lab: ${join(dir, 'none.json')} does not exist`);
    }
    expect(await readdir(dir)).toEqual(['release.jws']);
  });
});
