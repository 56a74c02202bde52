import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OtaError } from '../../../common/errors.js';
import { applyTransition, beginUpdate, initialRecord } from '../../../device-agent/engine/record.js';
import { AgentMachine } from '../../../device-agent/engine/machine.js';
import { LOCK_FILE, STATE_FILE, StateStore } from '../../../device-agent/engine/store.js';
import { recordingDevice } from './recording-device.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-store-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const at = new Date('2026-01-01T00:00:00Z');

async function rejection(p: Promise<unknown>): Promise<OtaError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(OtaError);
  return e as OtaError;
}

describe('StateStore on real files', () => {
  it('reads the initial record when there is no file, without writing one', async () => {
    const store = new StateStore({ dir: join(dir, 'state') });
    expect(await store.load()).toEqual(initialRecord());
    expect(await readdir(dir)).toEqual([]);
  });

  it('writes what load reads back, creating the directory, readable by root only', async () => {
    const store = new StateStore({ dir: join(dir, 'state') });
    const saved = await store.save(beginUpdate(initialRecord(), { id: 'u1', at }), at);
    expect(await store.load()).toEqual(saved);
    expect(await readdir(join(dir, 'state'))).toEqual([STATE_FILE]);
    expect((await stat(store.path)).mode & 0o777).toBe(0o600);
  });

  it('counts every save of an update in the record it writes', async () => {
    const store = new StateStore({ dir });
    let r = await store.save(beginUpdate(initialRecord(), { id: 'u1', at }), at);
    r = await store.save(applyTransition(r, { event: 'updateAvailable', to: 'downloading', at }), at);
    expect(r.update?.saves).toBe(2);
    expect((await store.load()).update?.saves).toBe(2);
  });

  it('refuses a record that is not JSON or not valid, naming the file, and changes nothing', async () => {
    const store = new StateStore({ dir });
    await writeFile(store.path, '{"apiVersion": "deb-ota/v1", ');
    const notJson = await rejection(store.load());
    expect(notJson.code).toBe('ERR_OTA_STATE');
    expect(notJson.message).toContain(store.path);

    const unknownKey = JSON.stringify({ ...initialRecord(), pending: true });
    await writeFile(store.path, unknownKey);
    const invalid = await rejection(store.load());
    expect(invalid.message).toMatch(/not valid/);
    expect(await readFile(store.path, 'utf8')).toBe(unknownKey);
  });

  it('removes temp files a crash left, and only those', async () => {
    const store = new StateStore({ dir });
    await store.save(initialRecord(), at);
    await writeFile(join(dir, `.${STATE_FILE}.0a1b2c3d4e5f.tmp`), '{"torn');
    await writeFile(join(dir, 'other.tmp'), 'x');
    expect(await store.removeLeftovers()).toEqual([`.${STATE_FILE}.0a1b2c3d4e5f.tmp`]);
    expect((await readdir(dir)).sort()).toEqual(['other.tmp', STATE_FILE]);
  });
});

describe('the agent lock', () => {
  it('lets one holder at a time and names the running holder', async () => {
    const store = new StateStore({ dir });
    const release = await store.lock();
    const e = await rejection(store.lock());
    expect(e.code).toBe('ERR_OTA_STATE');
    expect(e.message).toContain(`pid ${process.pid}`);
    await release();
    const again = await store.lock();
    await again();
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes over a lock whose process no longer runs (a SIGKILL, a power cut)', async () => {
    const store = new StateStore({ dir });
    // a pid above the kernel's pid_max names no process
    await writeFile(join(dir, LOCK_FILE), '4194305\n');
    const release = await store.lock();
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    await release();
  });

  it('refuses a second machine run while another holds the lock, changing nothing', async () => {
    const store = new StateStore({ dir });
    const release = await store.lock();
    try {
      const dev = await recordingDevice(dir);
      await expect(new AgentMachine({ store, deps: dev.deps }).check({ id: 'u1' })).rejects.toMatchObject({ code: 'ERR_OTA_STATE' });
      expect(dev.calls).toEqual([]);
      expect(await store.load()).toEqual(initialRecord());
    } finally {
      await release();
    }
  });
});
