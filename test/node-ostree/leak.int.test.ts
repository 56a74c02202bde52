import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Repo, commitDirectory, listTree, OstreeError } from '../../node-ostree/index.js';

// Makes a full GC callable, so RSS is compared after garbage is gone and only leaks remain.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CYCLES = Number(process.env.OTA_LEAK_CYCLES ?? 10_000);

describe('no GObject or GLib memory is leaked', () => {
  it(`keeps RSS stable over ${CYCLES} open/commit/resolve/list/error/close cycles`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-leak-'));
    await mkdir(join(dir, 'tree/usr'), { recursive: true });
    await writeFile(join(dir, 'tree/usr/file'), 'content\n');
    await Repo.create(join(dir, 'repo'), 'bare-user');
    const rss = () => {
      gc();
      return process.memoryUsage().rss;
    };
    const cycle = async (i: number) => {
      const repo = await Repo.open(join(dir, 'repo'), { disableFsync: true });
      const { checksum } = await commitDirectory(repo, join(dir, 'tree'), { ref: `r${i % 50}`, timestamp: i });
      expect(repo.resolve(`r${i % 50}`)).toBe(checksum);
      expect(listTree(repo, checksum)).toHaveLength(2);
      // an error path too: the GError must be freed as well
      expect(() => repo.resolve('missing')).toThrow(OstreeError);
      repo.close();
    };
    // RSS first climbs to a plateau (glibc gives each of koffi's worker threads its own malloc
    // arena, and libostree fills its caches), then stays flat unless something leaks. So the
    // growth that counts is over the second half of the run: a leak of 1 KiB per cycle would add
    // about 5 MiB there.
    const start = rss();
    const half = Math.floor(CYCLES / 2);
    let mid = 0;
    for (let i = 0; i < CYCLES; i++) {
      await cycle(i);
      if (i + 1 === half) mid = rss();
    }
    const end = rss();
    const growthMb = (end - mid) / 1024 / 1024;
    const mb = (x: number) => (x / 1048576).toFixed(1);
    console.log(`leak check: ${CYCLES} cycles, RSS ${mb(start)} MiB at start, ${mb(mid)} MiB after ${half}, ${mb(end)} MiB after ${CYCLES} (second half ${growthMb >= 0 ? '+' : ''}${growthMb.toFixed(1)} MiB)`);
    expect(growthMb).toBeLessThan(4);
  });
});
