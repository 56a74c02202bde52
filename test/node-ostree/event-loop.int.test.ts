import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repo, commitDirectory, checkout } from '../../node-ostree/index.js';

// Long libostree calls run on koffi's worker threads, so the event loop keeps turning while one
// runs. Proven by order, not by time: a callback scheduled with setImmediate right after the
// call starts runs while the call's promise is still pending. A call that blocked the main
// thread would have finished (its promise settled) before the loop could run the callback.
//
// The order is certain where the wrapper makes several C calls one after another (a commit:
// write the tree, the commit, end the transaction): each completion comes back through a
// separate turn of the loop, and setImmediate runs at the end of the first. A checkout is one
// call; forcing copies of 40 MiB makes it outlast the few microseconds before that first turn.
async function loopTurnsDuring(work: () => Promise<unknown>): Promise<boolean> {
  let settled = false;
  const call = work().finally(() => {
    settled = true;
  });
  const pendingWhenTheLoopTurned = await new Promise<boolean>((resolve) => setImmediate(() => resolve(!settled)));
  await call;
  return pendingWhenTheLoopTurned;
}

let dir: string;
let repo: Repo;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-loop-'));
  await mkdir(join(dir, 'tree/usr/lib'), { recursive: true });
  for (let i = 0; i < 40; i++) await writeFile(join(dir, 'tree/usr/lib', `f${i}`), randomBytes(1 << 20));
  repo = await Repo.create(join(dir, 'repo'), 'bare-user');
});

afterAll(async () => {
  repo?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('long calls do not block the event loop', () => {
  it('a commit is still pending when a callback scheduled after it starts has run', async () => {
    expect(await loopTurnsDuring(() => commitDirectory(repo, join(dir, 'tree'), { ref: 'big' }))).toBe(true);
  });

  it('a checkout that copies is still pending when a callback scheduled after it starts has run', async () => {
    expect(await loopTurnsDuring(() => checkout(repo, 'big', join(dir, 'copies'), { userMode: true, hardlink: false }))).toBe(true);
  });

  it('the probe tells a call that holds the main thread: its promise has settled before the callback runs', async () => {
    // The control: resolving a ref is a synchronous libostree call, on the main thread.
    expect(await loopTurnsDuring(async () => repo.resolve('big'))).toBe(false);
  });
});
