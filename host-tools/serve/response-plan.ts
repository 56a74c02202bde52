/**
 * The answer to a GET or HEAD of one file, as data: status, body range and headers, from the
 * request's conditional and Range headers and the file's size and validators (RFC 9110: ETag and
 * If-None-Match give 304; a single byte range gives 206 or 416; If-Range drops a Range whose
 * validator no longer matches, so a client resuming a changed file gets it whole). The server
 * only streams what this says.
 *
 * @example
 * planResponse({ size: 1000, etag: '"a"', lastModified: 'Wed, 02 Dec 2026 14:00:00 GMT' }, { range: 'bytes=0-99' });
 * // { status: 206, start: 0, end: 99, headers: { 'Content-Range': 'bytes 0-99/1000', 'Content-Length': '100', ... } }
 */
export interface FileFacts {
  size: number;
  /** A strong entity tag, quoted. */
  etag: string;
  /** An HTTP-date. */
  lastModified: string;
}

export interface RequestHeaders {
  range?: string;
  ifNoneMatch?: string;
  ifRange?: string;
}

export interface ResponsePlan {
  status: 200 | 206 | 304 | 416;
  /** Inclusive byte range of the body; absent when there is no body to send. */
  start?: number;
  end?: number;
  headers: Record<string, string>;
}

export function planResponse(file: FileFacts, req: RequestHeaders): ResponsePlan {
  const base = { ETag: file.etag, 'Last-Modified': file.lastModified, 'Accept-Ranges': 'bytes' };
  if (req.ifNoneMatch !== undefined && etagListMatches(req.ifNoneMatch, file.etag)) return { status: 304, headers: base };
  const range = req.range !== undefined && ifRangeHolds(req.ifRange, file) ? parseRange(req.range, file.size) : undefined;
  if (range === 'unsatisfiable') return { status: 416, headers: { ...base, 'Content-Range': `bytes */${file.size}`, 'Content-Length': '0' } };
  if (range !== undefined) {
    const [start, end] = range;
    return { status: 206, start, end, headers: { ...base, 'Content-Range': `bytes ${start}-${end}/${file.size}`, 'Content-Length': String(end - start + 1) } };
  }
  const body = file.size > 0 ? { start: 0, end: file.size - 1 } : {};
  return { status: 200, ...body, headers: { ...base, 'Content-Length': String(file.size) } };
}

/** If-None-Match uses the weak comparison: `W/` is ignored on both sides; `*` matches any existing file. */
function etagListMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => bare(t) === bare(etag));
}

/** If-Range: a strong ETag must equal ours; a date must equal our Last-Modified exactly; else the Range is ignored. */
function ifRangeHolds(ifRange: string | undefined, file: FileFacts): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return v === file.etag;
  return v === file.lastModified;
}

/**
 * One range of `bytes=` (first-last, first-, -suffix). Several ranges, another unit or bad syntax
 * are ignored (a server may always answer with the whole file); a well-formed range that starts
 * past the end is unsatisfiable.
 */
export function parseRange(header: string, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = /^bytes=\s*(\d*)-(\d*)\s*$/.exec(header.trim());
  if (!m) return undefined;
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(a);
  if (!Number.isSafeInteger(start)) return undefined;
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (b !== '' && Number(b) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return [start, end];
}
