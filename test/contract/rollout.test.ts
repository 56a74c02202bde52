import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSigningKey, inWave, JWS_TYP, loadTrustedKeys, parseDocument, readSigned, rolloutBucket, signDocument, topics, type Rollout } from '../../contract/index.js';

const GOLDEN = join(import.meta.dirname, 'golden');

describe('rollout buckets', () => {
  const devices = Array.from({ length: 20_000 }, (_, i) => `gw-${String(i).padStart(5, '0')}`);

  it('spreads devices evenly over the 10000 buckets', () => {
    const tenths = new Array<number>(10).fill(0);
    for (const d of devices) tenths[Math.floor(rolloutBucket('r-even', d) / 1000)]!++;
    // 2000 expected per tenth; a binomial's standard deviation is ~42, so 5 sigma is ~210.
    for (const n of tenths) expect(Math.abs(n - 2000)).toBeLessThan(210);
    const onePercent = devices.filter((d) => inWave(rolloutBucket('r-even', d), 100)).length;
    expect(Math.abs(onePercent - 200)).toBeLessThan(75);
  });

  it('gives each rollout id its own first percent', () => {
    const first = (id: string) => new Set(devices.filter((d) => inWave(rolloutBucket(id, d), 100)));
    const a = first('r-a');
    const b = first('r-b');
    const both = [...a].filter((d) => b.has(d)).length;
    // Independent draws share about 1% of a 1% wave; the same hash for both would share all.
    expect(both).toBeLessThan(a.size / 5);
  });

  it('is stable, within range, and a wave holds the waves before it', () => {
    for (const d of devices.slice(0, 500)) {
      const b = rolloutBucket('r-x', d);
      expect(b).toBe(rolloutBucket('r-x', d));
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(10_000);
      if (inWave(b, 100)) expect(inWave(b, 1000)).toBe(true);
    }
    expect(inWave(0, 0)).toBe(false);
    expect(inWave(9999, 10_000)).toBe(true);
  });

  it('follows the formula of docs/contract.md', async () => {
    const { createHash } = await import('node:crypto');
    const h = createHash('sha256').update('deb-ota rollout r-1 gw-1').digest();
    expect(rolloutBucket('r-1', 'gw-1')).toBe(h.readUInt32BE(0) % 10_000);
  });
});

describe('the rollout document', () => {
  it('is signed with its own typ, read back, and never read as a release or a command', async () => {
    const doc = parseDocument('Rollout', JSON.parse(await readFile(join(GOLDEN, 'rollout.json'), 'utf8')) as object) as Rollout;
    const key = await generateSigningKey();
    const jws = await signDocument('rollout', doc, key);
    expect(JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString()).typ).toBe(JWS_TYP.rollout);
    const trusted = await loadTrustedKeys({ keys: [key.publicJwk] });
    const v = await readSigned('rollout', jws, trusted);
    expect(v.doc).toEqual(doc);
    await expect(readSigned('release', jws, trusted)).rejects.toMatchObject({ code: 'ERR_OTA_JWS_TYP' });
    await expect(readSigned('command', jws, trusted)).rejects.toMatchObject({ code: 'ERR_OTA_JWS_TYP' });
  });

  it('refuses a wave beyond the whole group', () => {
    const bad = { apiVersion: 'deb-ota/v1', kind: 'Rollout', id: 'r', group: 'g', release: { version: '1', commit: 'a'.repeat(64), sha256: 'b'.repeat(64) }, wave: { index: 0, basisPoints: 10_001 }, state: 'running', reason: null };
    expect(() => parseDocument('Rollout', bad)).toThrow(/basisPoints/);
  });

  it('has its retained topic beside the release', () => {
    expect(topics().groupRollout('canary')).toBe('ota/groups/canary/rollout');
    expect(() => topics().groupRollout('a/b')).toThrow();
  });
});
