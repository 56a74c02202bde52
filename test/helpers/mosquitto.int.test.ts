import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../common/exec.js';
import { startMosquitto, subscribeOnce } from './mosquitto.js';

describe('startMosquitto (the test broker others reuse)', () => {
  it('starts a real broker on a free port that keeps a retained message for a later subscriber', async () => {
    const broker = await startMosquitto();
    try {
      await run('mosquitto_pub', ['mosquitto_pub', '-h', '127.0.0.1', '-p', String(broker.port), '-t', 't/x', '-m', 'hello', '-r', '-q', '1']);
      expect(await subscribeOnce(broker.url, 't/x')).toEqual(['hello']);
    } finally {
      await broker.stop();
    }
  });

  it('with users, refuses an anonymous client and accepts a known one', async () => {
    const broker = await startMosquitto({ users: { fleet: 's3cret' } });
    try {
      const pub = ['mosquitto_pub', '-h', '127.0.0.1', '-p', String(broker.port), '-t', 't/y', '-m', 'm', '-r'];
      await expect(run('mosquitto_pub', pub)).rejects.toThrow(/exited with/);
      await run('mosquitto_pub', [...pub, '-u', 'fleet', '-P', 's3cret']);
      expect(await subscribeOnce(broker.url, 't/y', { args: ['-u', 'fleet', '-P', 's3cret'] })).toEqual(['m']);
    } finally {
      await broker.stop();
    }
  });

  it('started again on its port with its persistence folder, keeps what was retained', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-mosquitto-persist-'));
    try {
      const first = await startMosquitto({ persistenceDir: dir });
      await run('mosquitto_pub', ['mosquitto_pub', '-h', '127.0.0.1', '-p', String(first.port), '-t', 't/z', '-m', 'kept', '-r', '-q', '1']);
      await first.stop();
      const again = await startMosquitto({ persistenceDir: dir, port: first.port });
      try {
        expect(again.port).toBe(first.port);
        expect(await subscribeOnce(again.url, 't/z')).toEqual(['kept']);
      } finally {
        await again.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
