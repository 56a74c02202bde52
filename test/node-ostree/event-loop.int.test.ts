import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Repo, commitDirectory, checkout } from '../../node-ostree/index.js';

// Long libostree calls run on worker threads: while one runs, the event loop keeps turning.
// Counted as timer ticks during the call (behaviour, not speed: a blocking call gets none).
async function ticksDuring(work: () => Promise<unknown>): Promise<number> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return ticks;
}

describe('long calls do not block the event loop', () => {
  it('keeps timers running during a large commit and checkout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-loop-'));
    await mkdir(join(dir, 'tree/usr/lib'), { recursive: true });
    for (let i = 0; i < 40; i++) await writeFile(join(dir, 'tree/usr/lib', `f${i}`), randomBytes(1 << 20));
    const repo = await Repo.create(join(dir, 'repo'), 'bare-user');
    expect(await ticksDuring(() => commitDirectory(repo, join(dir, 'tree'), { ref: 'big' }))).toBeGreaterThan(0);
    expect(await ticksDuring(() => checkout(repo, 'big', join(dir, 'co'), { userMode: true }))).toBeGreaterThan(0);
    repo.close();
  });
});
