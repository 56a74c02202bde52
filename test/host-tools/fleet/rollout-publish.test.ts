import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSigningKey, loadTrustedKeys, readSigned } from '../../../contract/index.js';
import { publishRollout, retainedMatches } from '../../../host-tools/fleet/rollout-publish.js';
import { loadRolloutState, type RolloutControl } from '../../../host-tools/fleet/rollout-state.js';
import { publishedRootOf, writeReleasePointer } from '../../../host-tools/fleet/rollout-twin.js';
import { ROLLOUT_T0, rolloutControl } from '../../helpers/rollout-control.js';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const state: RolloutControl = rolloutControl({
  id: 'r-pub',
  prefix: 'plant/ota',
  waves: [100, 10_000],
  wave: { index: 1, startedAt: ROLLOUT_T0, soakStartedAt: null },
});

describe('publishRollout', () => {
  it('saves the state with the new issue time before it publishes the signed wave, retained; the retained copy is then recognised', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ota-rollout-pub-'));
    dirs.push(dir);
    const statePath = join(dir, 'lab.json');
    const key = await generateSigningKey();
    const sent: { topic: string; jws: string; retain: boolean; saved: RolloutControl | null }[] = [];
    // The broker session is the seam: what was published, and what the file held at that moment.
    const session = { publish: async (topic: string, payload: string | Buffer, o: { retain: boolean }) => void sent.push({ topic, jws: String(payload), retain: o.retain, saved: await loadRolloutState(statePath) }) };
    const now = new Date('2026-03-01T12:00:10Z');
    const first = await publishRollout({ session, state, key, statePath, now });
    const second = await publishRollout({ session, state: first, key, statePath, now });
    expect(second.lastIssuedAt).toBe(first.lastIssuedAt + 1);
    expect(sent.map((s) => [s.topic, s.retain, s.saved?.lastIssuedAt])).toEqual([
      ['plant/ota/groups/lab/rollout', true, first.lastIssuedAt],
      ['plant/ota/groups/lab/rollout', true, second.lastIssuedAt],
    ]);
    const v = await readSigned('rollout', sent[1]!.jws, await loadTrustedKeys({ keys: [key.publicJwk] }), { now });
    expect(v.doc).toMatchObject({ id: 'r-pub', wave: { index: 1, basisPoints: 10_000 }, state: 'running' });
    expect(await retainedMatches(sent[1]!.jws, second, key)).toBe(true);
    // An older copy (the publish after it was lost), another key's, or none: publish again.
    expect(await retainedMatches(sent[0]!.jws, second, key)).toBe(false);
    expect(await retainedMatches(sent[1]!.jws, second, await generateSigningKey())).toBe(false);
    expect(await retainedMatches(null, second, key)).toBe(false);
  });

  it('writes the signed document beside the group release in the published folder before it publishes; the pointer moves after it', async () => {
    const pub = await mkdtemp(join(tmpdir(), 'ota-rollout-twin-'));
    dirs.push(pub);
    const releaseFile = join(pub, 'releases', 'fx/amd64', '1.1.jws');
    expect(publishedRootOf(releaseFile)).toBe(pub);
    expect(publishedRootOf('/p/1.1.jws')).toBeNull();
    const twin = join(pub, 'groups', 'lab', 'rollout.jws');
    const key = await generateSigningKey();
    const seen: (string | null)[] = [];
    const session = { publish: async () => void seen.push(await readFile(twin, 'utf8').catch(() => null)) };
    const s = { ...state, release: { ...state.release, file: releaseFile } };
    const published = await publishRollout({ session, state: s, key, statePath: join(pub, 'state.json'), now: new Date('2026-03-01T12:00:10Z') });
    // At the MQTT publish, the HTTP copy was there already, and it is the same signed document.
    expect(seen).toHaveLength(1);
    const v = await readSigned('rollout', seen[0]!.trim(), await loadTrustedKeys({ keys: [key.publicJwk] }), { now: new Date('2026-03-01T12:00:10Z') });
    expect(v.doc).toMatchObject({ id: 'r-pub', group: 'lab' });
    expect(await retainedMatches(seen[0]!.trim(), published, key)).toBe(true);
    expect(await writeReleasePointer(s, 'a.b.c')).toBe(true);
    expect(await writeReleasePointer(s, 'a.b.c')).toBe(false);
    expect((await readFile(join(pub, 'groups', 'lab', 'release.jws'), 'utf8')).trim()).toBe('a.b.c');
  });
});
