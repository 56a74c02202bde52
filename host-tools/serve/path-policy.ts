/**
 * What the release server may answer for a request path, decided from the path alone (no disk):
 * which file under PUBLISHED it names, how long a cache may keep it, its Content-Type, and
 * whether its name alone is a strong ETag. Content-addressed files (objects/, deltas/) never
 * change once written, so caches keep them for a year; everything that moves when a release is
 * published (summary, refs, manifests, group pointers) is revalidated on each use
 * (docs/releases.md, "Serving").
 *
 * @example
 * const p = pathPolicy('/repo/objects/ab/cdef.dirtree');
 * if (p.ok) p.cacheControl; // 'public, max-age=31536000, immutable'
 */
export type PathPolicy =
  | {
      ok: true;
      /** Path segments below PUBLISHED, each checked (no '.', '..', dotfile, slash or NUL). */
      segments: string[];
      cacheClass: 'immutable' | 'revalidate';
      cacheControl: string;
      contentType: string;
      /** For an OSTree object: its name (checksum and type), which is a strong validator by itself. */
      contentName: string | undefined;
    }
  | { ok: false; status: 400 | 404; reason: string };

export const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
export const CACHE_REVALIDATE = 'no-cache';

const OBJECT_NAME = /^[0-9a-f]{62}\.(commit|commitmeta|dirtree|dirmeta|filez|file|sig)$/;

export function pathPolicy(rawPath: string): PathPolicy {
  const path = rawPath.split('?')[0]!.split('#')[0]!;
  if (!path.startsWith('/')) return { ok: false, status: 400, reason: 'the request target is not an absolute path' };
  let segments: string[];
  try {
    // Each segment is decoded on its own, so an encoded slash cannot join two segments into one.
    segments = path.slice(1).split('/').map((s) => decodeURIComponent(s));
  } catch {
    return { ok: false, status: 400, reason: 'the path has a malformed percent-encoding' };
  }
  if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop();
  for (const s of segments) {
    if (s === '..' || s === '.') return { ok: false, status: 400, reason: 'the path leaves the published tree' };
    if (s === '' || s.includes('/') || s.includes('\\') || s.includes('\0')) return { ok: false, status: 400, reason: 'the path has an empty or invalid segment' };
    // Dotfiles are temp files of atomic writes, locks and anything not meant for devices.
    if (s.startsWith('.')) return { ok: false, status: 404, reason: 'dotfiles are not served' };
  }
  if (segments.length === 0) return { ok: false, status: 404, reason: 'no listing of the published tree' };
  const [top, second] = segments;
  if (top === 'repo' && (second === 'tmp' || second === 'state')) return { ok: false, status: 404, reason: 'the repository\'s working directories are not served' };
  const immutable = top === 'repo' && (second === 'objects' || second === 'deltas') && segments.length > 2;
  const last = segments[segments.length - 1]!;
  const contentName = top === 'repo' && second === 'objects' && segments.length === 4 && /^[0-9a-f]{2}$/.test(segments[2]!) && OBJECT_NAME.test(last) ? `${segments[2]}${last}` : undefined;
  return {
    ok: true,
    segments,
    cacheClass: immutable ? 'immutable' : 'revalidate',
    cacheControl: immutable ? CACHE_IMMUTABLE : CACHE_REVALIDATE,
    contentType: contentTypeOf(segments),
    contentName,
  };
}

function contentTypeOf(segments: string[]): string {
  const name = segments[segments.length - 1]!;
  if (name.endsWith('.jws')) return 'application/jose';
  if (name.endsWith('.jwks')) return 'application/jwk-set+json';
  if (name.endsWith('.json')) return 'application/json';
  if (segments[0] === 'repo' && (segments[1] === 'refs' || name === 'config')) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}
