import { describe, expect, it } from 'vitest';
import { parseRange, planResponse } from '../../../host-tools/serve/response-plan.js';
import { CACHE_IMMUTABLE, CACHE_REVALIDATE, pathPolicy } from '../../../host-tools/serve/path-policy.js';

const file = { size: 1000, etag: '"3e8-abc"', lastModified: 'Wed, 02 Dec 2026 14:00:00 GMT' };

describe('planResponse', () => {
  it('answers a plain GET whole, with validators and the length', () => {
    const p = planResponse(file, {});
    expect(p).toMatchObject({ status: 200, start: 0, end: 999 });
    expect(p.headers).toMatchObject({ ETag: file.etag, 'Content-Length': '1000', 'Accept-Ranges': 'bytes' });
  });

  it('answers 304 for a matching If-None-Match (weak comparison, lists, *) and 200 otherwise', () => {
    expect(planResponse(file, { ifNoneMatch: file.etag }).status).toBe(304);
    expect(planResponse(file, { ifNoneMatch: `"x", W/${file.etag}` }).status).toBe(304);
    expect(planResponse(file, { ifNoneMatch: '*' }).status).toBe(304);
    expect(planResponse(file, { ifNoneMatch: '"other"' }).status).toBe(200);
  });

  it('answers one byte range with 206 and Content-Range, an unsatisfiable one with 416', () => {
    expect(planResponse(file, { range: 'bytes=100-199' })).toMatchObject({ status: 206, start: 100, end: 199, headers: { 'Content-Range': 'bytes 100-199/1000', 'Content-Length': '100' } });
    expect(planResponse(file, { range: 'bytes=1000-' })).toMatchObject({ status: 416, headers: { 'Content-Range': 'bytes */1000' } });
  });

  it('honours a Range under If-Range only while the validator still matches', () => {
    expect(planResponse(file, { range: 'bytes=10-', ifRange: file.etag }).status).toBe(206);
    expect(planResponse(file, { range: 'bytes=10-', ifRange: file.lastModified }).status).toBe(206);
    expect(planResponse(file, { range: 'bytes=10-', ifRange: '"changed"' })).toMatchObject({ status: 200, start: 0, end: 999 });
    expect(planResponse(file, { range: 'bytes=10-', ifRange: 'Tue, 01 Dec 2026 00:00:00 GMT' }).status).toBe(200);
  });
});

describe('parseRange', () => {
  it('reads first-last, first- and -suffix, clamping the end to the file', () => {
    expect(parseRange('bytes=0-0', 10)).toEqual([0, 0]);
    expect(parseRange('bytes=5-', 10)).toEqual([5, 9]);
    expect(parseRange('bytes=-3', 10)).toEqual([7, 9]);
    expect(parseRange('bytes=-30', 10)).toEqual([0, 9]);
    expect(parseRange('bytes=8-100', 10)).toEqual([8, 9]);
  });

  it('ignores what it does not serve (several ranges, other units, reversed, garbage) and refuses ranges past the end', () => {
    for (const h of ['bytes=0-1,5-6', 'items=0-1', 'bytes=5-2', 'bytes=-', 'bytes=a-b']) expect(parseRange(h, 10)).toBeUndefined();
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
  });
});

describe('pathPolicy', () => {
  it('gives content-addressed objects and deltas a year in caches, and names objects as their own ETag', () => {
    const o = pathPolicy(`/repo/objects/ab/${'c'.repeat(62)}.dirtree`);
    expect(o).toMatchObject({ ok: true, cacheControl: CACHE_IMMUTABLE, contentName: `ab${'c'.repeat(62)}.dirtree` });
    expect(pathPolicy('/repo/deltas/Ab/cd-ef/0')).toMatchObject({ ok: true, cacheControl: CACHE_IMMUTABLE, contentName: undefined });
  });

  it('makes caches revalidate what moves with each release', () => {
    for (const p of ['/repo/summary', '/repo/summary.sig', '/repo/config', '/repo/refs/heads/os/stable', '/releases/os/1.2.jws', '/groups/lab/release.jws', '/keys.jwks', '/repo/delta-indexes/ab/cd.index']) {
      expect(pathPolicy(p), p).toMatchObject({ ok: true, cacheControl: CACHE_REVALIDATE });
    }
    expect(pathPolicy('/groups/lab/release.jws')).toMatchObject({ contentType: 'application/jose' });
  });

  it('refuses traversal, encoded slashes, dotfiles, working directories and the bare root', () => {
    expect(pathPolicy('/repo/../../etc/passwd')).toMatchObject({ ok: false, status: 400 });
    expect(pathPolicy('/repo/%2e%2e/%2e%2e/etc/passwd')).toMatchObject({ ok: false, status: 400 });
    expect(pathPolicy('/repo%2f..%2f..%2fetc/passwd')).toMatchObject({ ok: false, status: 400 });
    expect(pathPolicy('/repo/%zz')).toMatchObject({ ok: false, status: 400 });
    expect(pathPolicy('/repo/.lock')).toMatchObject({ ok: false, status: 404 });
    expect(pathPolicy('/groups/lab/.release.jws.1a2b.tmp')).toMatchObject({ ok: false, status: 404 });
    expect(pathPolicy('/repo/tmp/x')).toMatchObject({ ok: false, status: 404 });
    expect(pathPolicy('/')).toMatchObject({ ok: false, status: 404 });
  });
});
