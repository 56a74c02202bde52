import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CLOCK_SKEW_SECONDS } from '../../../contract/index.js';
import { admitNonce, MAX_NONCES, NONCE_FILE, NonceStore, pruneNonces } from '../../../device-agent/worker/nonces.js';

const NOW = 1_800_000_000;

describe('admitNonce and pruneNonces (pure)', () => {
  it('admits a new nonce, refuses it the second time, and keeps it until its command could no longer verify', () => {
    const first = admitNonce({}, 'n1', NOW + 3600, NOW);
    expect(first).toEqual({ ok: true, seen: { n1: NOW + 3600 } });
    if (!first.ok) throw new Error('unreachable');
    expect(admitNonce(first.seen, 'n1', NOW + 3600, NOW + 10)).toEqual({ ok: false, reason: 'replayed' });
    // readSigned still accepts a command up to the skew past its exp: so the nonce is kept that long.
    const edge = NOW + 3600 + DEFAULT_CLOCK_SKEW_SECONDS;
    expect(admitNonce(first.seen, 'n1', NOW + 3600, edge)).toEqual({ ok: false, reason: 'replayed' });
    expect(pruneNonces(first.seen, edge + 1)).toEqual({});
    expect(admitNonce(first.seen, 'n2', edge + 100, edge + 1)).toEqual({ ok: true, seen: { n2: edge + 100 } });
  });

  it('is bounded: a full store refuses a new nonce until entries expire, never dropping a live one', () => {
    const full = Object.fromEntries(Array.from({ length: MAX_NONCES }, (_, i) => [`n${i}`, NOW + 60 + (i % 2) * 3600]));
    expect(admitNonce(full, 'new', NOW + 3600, NOW)).toEqual({ ok: false, reason: 'nonce-store-full' });
    // Half of them expire (plus the skew): room again, and only the live half is kept.
    const later = NOW + 60 + DEFAULT_CLOCK_SKEW_SECONDS + 1;
    const v = admitNonce(full, 'new', later + 3600, later);
    expect(v.ok).toBe(true);
    if (v.ok) expect(Object.keys(v.seen)).toHaveLength(MAX_NONCES / 2 + 1);
  });
});

describe('NonceStore on disk', () => {
  let dir: string;
  beforeAll(async () => (dir = await mkdtemp(join(tmpdir(), 'ota-nonces-'))));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('persists what it admitted (a second store, as after a restart, refuses the replay) and reads a missing file as empty', async () => {
    const at = new Date(NOW * 1000);
    const exp = new Date((NOW + 3600) * 1000);
    expect(await new NonceStore(dir).load()).toEqual({});
    expect(await new NonceStore(dir).admit('jti-1', exp, at)).toMatchObject({ ok: true });
    const text = await readFile(join(dir, NONCE_FILE), 'utf8');
    expect(JSON.parse(text)).toEqual({ apiVersion: 'deb-ota/v1', kind: 'SeenNonces', seen: { 'jti-1': NOW + 3600 } });
    expect(await new NonceStore(dir).admit('jti-1', exp, at)).toEqual({ ok: false, reason: 'replayed' });
    expect(await readFile(join(dir, NONCE_FILE), 'utf8')).toBe(text);
  });

  it('a store that does not parse is an error, never a fresh start that would allow replays', async () => {
    await writeFile(join(dir, NONCE_FILE), '{"apiVersion":"deb-ota/v1","kind":"SeenNonces","seen":{"a":1},"extra":1}');
    await expect(new NonceStore(dir).admit('x', new Date((NOW + 60) * 1000), new Date(NOW * 1000))).rejects.toMatchObject({ code: 'ERR_OTA_STATE', message: expect.stringContaining('does not parse') as unknown });
    await writeFile(join(dir, NONCE_FILE), 'not json');
    await expect(new NonceStore(dir).load()).rejects.toMatchObject({ code: 'ERR_OTA_STATE' });
  });
});
