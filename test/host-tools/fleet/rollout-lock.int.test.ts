import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../../contract/index.js';
import { pauseRollout } from '../../../host-tools/fleet/rollout-control.js';
import { withStateLock } from '../../../host-tools/fleet/rollout-lock.js';
import { loadRolloutState, saveRolloutState, type RolloutControl } from '../../../host-tools/fleet/rollout-state.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { rolloutControl } from '../../helpers/rollout-control.js';

// `ota fleet pause|resume|abort` and a running controller change one state file
// (docs/fleet.md, "Where a rollout's state lives"): under the state's lock neither overwrites the other's change.
// The controller's round is played here by the test, under the lock, on a real file; the pause is the real one,
// on a real Mosquitto.

let dir: string;
let broker: Mosquitto;
let keyPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ota-rollout-lock-'));
  broker = await startMosquitto();
  const key = await generateSigningKey();
  keyPath = join(dir, 'release.jwk');
  const { privateKey } = key;
  await writeFile(keyPath, JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid: key.kid }));
});

afterAll(async () => {
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const running: RolloutControl = rolloutControl({ id: 'r-lock', waves: [5000, 10_000], soakSeconds: 600 });

function gate(): { open: () => void; opened: Promise<void> } {
  let open = () => {};
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('the rollout state lock', () => {
  it('a second holder runs only after the first is done', async () => {
    const path = join(dir, 'order.json');
    const log: string[] = [];
    const g = gate();
    const first = withStateLock(path, async () => {
      log.push('first in');
      await g.opened;
      log.push('first out');
    });
    const second = withStateLock(path, async () => void log.push('second'), { retryMs: 5 });
    // The second is waiting (the event loop turned many times meanwhile); only then does the first end.
    await new Promise((r) => setTimeout(r, 100));
    g.open();
    await Promise.all([first, second]);
    expect(log).toEqual(['first in', 'first out', 'second']);
    expect(await readdir(dir)).not.toContain('order.json.lock');
  });

  it('a lock left by a process that is gone is taken over', async () => {
    const path = join(dir, 'stale.json');
    await writeFile(`${path}.lock`, '2147483646\n');
    expect(await withStateLock(path, async () => 'taken', { waitMs: 1000 })).toBe('taken');
  });

  it("a pause during the controller's round is kept, and so is the round's own change", async () => {
    const statePath = join(dir, 'lab.json');
    await saveRolloutState(statePath, running);
    const g = gate();
    // The controller's round: it read the file, decided to start the soak, and writes that back.
    const round = withStateLock(statePath, async () => {
      const read = (await loadRolloutState(statePath))!;
      await g.opened;
      await saveRolloutState(statePath, { ...read, wave: { ...read.wave, soakStartedAt: '2026-03-01T12:05:00.000Z' } });
    });
    const paused = pauseRollout({ group: 'lab', keyPath, broker: { url: broker.url }, statePath, reason: 'by the test' });
    await new Promise((r) => setTimeout(r, 300));
    g.open();
    await round;
    const r = await paused;
    expect(r.state).toMatchObject({ phase: 'paused', reason: 'by the test' });
    expect(await loadRolloutState(statePath)).toMatchObject({ phase: 'paused', reason: 'by the test', wave: { soakStartedAt: '2026-03-01T12:05:00.000Z' } });
  });
});
