import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repo } from '../../../node-ostree/index.js';
import { ota } from '../../helpers/cli.js';

// `ota image` with a ref the repository does not have is bad input, said as `ota diff` says it:
// exit 2, the ref and the repository named, a hint, and no image file. A real (empty) repository.

let tmp: string;
let repoPath: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'ota-image-cli-'));
  repoPath = path.join(tmp, 'repo');
  (await Repo.create(repoPath, 'bare-user')).close();
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('ota image with a missing ref', () => {
  it('says so with a hint and exits 2, as ota diff does, writing no image', async () => {
    const out = path.join(tmp, 'disk.img');
    const r = await ota('image', '--board', 'qemu-arm64', '--repo', repoPath, '--ref', 'gateway/arm64/qemu-arm64', '-o', out);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error: gateway/arm64/qemu-arm64 is neither a ref nor a commit in ${repoPath}\nhint: list the refs with \`ostree refs --repo ${repoPath}\``);
    expect(existsSync(out)).toBe(false);
    const d = await ota('diff', 'gateway/arm64/qemu-arm64', 'other', '--repo', repoPath);
    expect(d.code).toBe(2);
    expect(d.err).toContain(`error: gateway/arm64/qemu-arm64 is neither a ref nor a commit in ${repoPath}`);
  });
});
