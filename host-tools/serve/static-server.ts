import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { open, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { EventSink } from '../../common/events.js';
import { pathPolicy } from './path-policy.js';
import { planResponse } from './response-plan.js';

/**
 * The HTTP half of `ota serve`: PUBLISHED as static files, GET and HEAD only, with Range, strong
 * ETags and the cache lifetimes of `path-policy.ts` (docs/releases.md, "Serving"). Devices
 * trust nothing this server says (they pull by checksum from a manifest they verified), so it
 * only has to be correct and to never hand out a file outside the tree.
 *
 * @example
 * const server = createStaticServer({ root: await requirePublished(dir), onEvent: reporter.event });
 * server.listen(8080, '127.0.0.1');
 */
export interface StaticServerOptions {
  /** The published directory's real path (requirePublished returns it). */
  root: string;
  /** Each answered request as an `http` event (shown with -v). */
  onEvent?: EventSink;
}

export function createStaticServer(options: StaticServerOptions): Server {
  const server = createServer((req, res) => {
    res.on('finish', () => report(options.onEvent, req, res));
    handle(options.root, req, res).catch((e: unknown) => {
      // A client that goes away mid-body ends the stream; anything else is answered once if possible.
      if (!res.headersSent) plain(res, 500, 'internal error');
      else res.destroy(e instanceof Error ? e : undefined);
    });
  });
  // Keep-alive is welcome (a pull makes many small requests), but an idle client must not hold a slot for ever.
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 20_000;
  server.requestTimeout = 0;
  return server;
}

async function handle(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    plain(res, 405, 'only GET and HEAD');
    return;
  }
  const policy = pathPolicy(req.url ?? '/');
  if (!policy.ok) {
    plain(res, policy.status, policy.reason);
    return;
  }
  const file = await resolveInside(root, policy.segments);
  if (file === undefined) {
    plain(res, 404, 'not found');
    return;
  }
  const fh = await open(file, 'r');
  try {
    const st = await fh.stat({ bigint: true });
    if (!st.isFile()) {
      plain(res, 404, 'not found');
      return;
    }
    const size = Number(st.size);
    const etag = policy.contentName !== undefined ? `"${policy.contentName}"` : `"${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`;
    const lastModified = new Date(Number(st.mtimeMs)).toUTCString();
    const plan = planResponse({ size, etag, lastModified }, { range: header(req, 'range'), ifNoneMatch: header(req, 'if-none-match'), ifRange: header(req, 'if-range') });
    res.writeHead(plan.status, { 'Cache-Control': policy.cacheControl, 'Content-Type': policy.contentType, 'X-Content-Type-Options': 'nosniff', ...plan.headers });
    if (method === 'HEAD' || plan.start === undefined || plan.end === undefined) {
      res.end();
      return;
    }
    await pipeline(fh.createReadStream({ start: plan.start, end: plan.end, autoClose: false }), res);
  } finally {
    await fh.close();
  }
}

/** The file's real path when it exists and stays inside the tree (a symlink may not lead out of it). */
async function resolveInside(root: string, segments: string[]): Promise<string | undefined> {
  let real: string;
  try {
    real = await realpath(join(root, ...segments));
  } catch {
    return undefined;
  }
  return real.startsWith(root + sep) ? real : undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) + 1 });
  res.end(`${text}\n`);
}

function report(onEvent: EventSink | undefined, req: IncomingMessage, res: ServerResponse): void {
  onEvent?.({ phase: 'http', method: req.method ?? '?', url: req.url ?? '', status: res.statusCode, message: `served to ${req.socket.remoteAddress ?? '?'}` });
}
