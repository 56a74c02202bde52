import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LOCK_BYTES, readLockText } from '../../../host-tools/lock/read-lock-file.js';
import { ota } from '../../helpers/cli.js';

// A lockfile arrives in pull requests: one past the cap is refused from its size on disk, before
// a byte of it is read. The oversized file is sparse, so the test writes nothing of that size.

let dir: string;
let big: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-lock-size-'));
  big = join(dir, 'image.lock');
  const fh = await open(big, 'w');
  await fh.truncate(MAX_LOCK_BYTES + 1);
  await fh.close();
  await writeFile(join(dir, 'image.yaml'), 'name: d\narch: amd64\nsources:\n  - uri: http://m.example/debian\n    suites: [stable]\n    components: [main]\npackages: [app]\n');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('lockfile size cap', () => {
  it('refuses a lock over 64 MiB with ERR_OTA_LOCKFILE, naming the file and the cap', async () => {
    const e = await readLockText(big).then(() => undefined, (err: unknown) => err);
    expect(e).toMatchObject({ code: 'ERR_OTA_LOCKFILE', exitCode: 2, message: `${big} is ${MAX_LOCK_BYTES + 1} bytes, more than the 64 MiB a lockfile may have; it was not read` });
  });

  it('`ota lock --check` exits 2 on it, and `ota lock --explain` too', async () => {
    const check = await ota('lock', '--check', join(dir, 'image.yaml'));
    expect(check.code).toBe(2);
    expect(check.err).toContain('more than the 64 MiB a lockfile may have');
    const explain = await ota('lock', '--explain', 'app', '-o', big, join(dir, 'image.yaml'));
    expect(explain.code).toBe(2);
    expect(explain.err).toContain('more than the 64 MiB a lockfile may have');
  });

  it('reads a lock at the cap or below as it is', async () => {
    const small = join(dir, 'small.lock');
    await writeFile(small, 'Lockfile-Version: 1\n');
    expect(await readLockText(small)).toBe('Lockfile-Version: 1\n');
  });
});
