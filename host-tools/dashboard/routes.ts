/**
 * The dashboard's HTTP handler (docs/dashboard.md, "Security model"): every response carries the
 * security headers; a request whose Host is not this server's is refused first; everything but
 * the login page and the static files needs a session; every POST needs an Origin of this server,
 * and an action a JSON body (which no cross-site form can send) no larger than `MAX_BODY_BYTES`.
 *
 * @example
 * const handler = dashboardHandler({ auth, policy, live, web, https: false, releases: async () => [], actions: {} });
 * createServer(handler).listen(8090, '127.0.0.1');
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OtaError } from '../../common/errors.js';
import type { Auth } from './auth.js';
import { clearedCookie, MAX_BODY_BYTES, securityHeaders, sessionCookie, sessionFromCookie, type OriginPolicy } from './http-policy.js';
import type { Live } from './live.js';
import { deviceInventory } from './model.js';
import type { ReleaseEntry } from './releases.js';
import { SESSION_SECONDS } from './auth.js';
import type { WebFiles } from './web-files.js';

/** A POST the page may make: its JSON body in, a JSON result out; an OtaError's message is shown to the operator. */
export type Action = (body: unknown) => Promise<unknown>;

export interface HandlerOptions {
  auth: Auth;
  policy: OriginPolicy;
  live: Live;
  web: WebFiles;
  https: boolean;
  releases: () => Promise<ReleaseEntry[]>;
  /** GET endpoints under /api/ beyond the built-in ones (the rollouts' view): path -> JSON. */
  views?: Record<string, () => Promise<unknown>>;
  actions: Record<string, Action>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export function dashboardHandler(o: HandlerOptions): Handler {
  const headers = securityHeaders(o.https);
  return (req, res) => {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    route(o, req, res).catch((e: unknown) => {
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.end();
      // The operator sees a failed action in the page; a crash of the handler is a bug to report.
      if (!(e instanceof OtaError)) process.emitWarning(`dashboard: ${e instanceof Error ? e.stack : String(e)}`);
    });
  };
}

async function route(o: HandlerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!o.policy.hostAllowed(req.headers.host)) return text(res, 421, 'this server does not answer to that host name (see --origin)');
  const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
  const method = req.method ?? 'GET';
  if (method === 'POST' && !o.policy.originAllowed(req.headers.origin)) return json(res, 403, { error: 'cross-origin request refused' });
  if (method === 'GET' && url.pathname.startsWith('/static/')) return staticFile(o, res, url.pathname.slice('/static/'.length));
  if (url.pathname === '/login') return login(o, req, res, url);
  const session = sessionFromCookie(req.headers.cookie);
  if (!o.auth.valid(session)) {
    if (method === 'GET' && !url.pathname.startsWith('/api/')) return redirect(res, '/login');
    return json(res, 401, { error: 'log in first' });
  }
  if (method === 'POST' && url.pathname === '/logout') {
    o.auth.logout(session);
    if (session !== null) o.live.endSession(session);
    res.setHeader('set-cookie', clearedCookie(o.https));
    return redirect(res, '/login');
  }
  if (method === 'POST' && url.pathname.startsWith('/api/actions/')) return action(o, req, res, url.pathname.slice('/api/actions/'.length));
  if (method !== 'GET') return json(res, 405, { error: 'method not allowed' });
  if (url.pathname === '/') return staticFile(o, res, 'index.html');
  return api(o, res, url, session);
}

async function api(o: HandlerOptions, res: ServerResponse, url: URL, session: string | null): Promise<void> {
  const p = url.pathname;
  if (p === '/api/stream') {
    await o.live.ready;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
    const device = url.searchParams.get('device');
    return o.live.attach(res, device !== null ? { device } : url.searchParams.has('rollouts') ? { rollouts: true } : { fleet: true }, session);
  }
  if (p === '/api/inventory') return json(res, 200, { inventory: deviceInventory(o.live.model, url.searchParams.get('device') ?? '') });
  if (p === '/api/releases') {
    const fromDir = await o.releases();
    return json(res, 200, { releases: [...fromDir, ...o.live.releases.values()] });
  }
  const view = o.views?.[p.slice('/api/'.length)];
  if (p.startsWith('/api/') && view !== undefined) return json(res, 200, await view());
  return json(res, 404, { error: 'not found' });
}

async function login(o: HandlerOptions, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  let given: string | null = url.searchParams.get('token');
  if (req.method === 'POST') {
    const body = await readBody(req);
    given = body === null ? null : new URLSearchParams(body).get('secret');
  }
  if (given === null) return staticFile(o, res, 'login.html');
  const session = o.auth.login(given);
  if (session === null) return redirect(res, '/login?failed=1');
  res.setHeader('set-cookie', sessionCookie(session, o.https, SESSION_SECONDS));
  return redirect(res, '/');
}

async function action(o: HandlerOptions, req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
  const run = Object.hasOwn(o.actions, name) ? o.actions[name] : undefined;
  if (run === undefined) return json(res, 404, { error: `no action ${name}` });
  if (!/^application\/json(;|$)/.test(req.headers['content-type'] ?? '')) return json(res, 415, { error: 'an action takes a JSON body (Content-Type: application/json)' });
  const body = await readBody(req);
  if (body === null) return json(res, 413, { error: `the body is over ${MAX_BODY_BYTES} bytes` });
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return json(res, 400, { error: 'the body is not JSON' });
  }
  try {
    return json(res, 200, { ok: true, result: await run(parsed) });
  } catch (e) {
    if (e instanceof OtaError) return json(res, e.exitCode === 2 ? 400 : 409, { error: e.message, hint: e.hint ?? null, code: e.code });
    throw e;
  }
}

/** The body as text, or null when it is over the limit (the rest is not read). */
async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.byteLength;
    if (size > MAX_BODY_BYTES) {
      req.destroy();
      return null;
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function staticFile(o: HandlerOptions, res: ServerResponse, name: string): void {
  const f = o.web.get(name);
  if (f === undefined) return json(res, 404, { error: 'not found' });
  res.writeHead(200, { 'content-type': f.type, 'content-length': f.body.byteLength, 'cache-control': 'no-cache' });
  res.end(f.body);
}

function json(res: ServerResponse, code: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

function text(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}

function redirect(res: ServerResponse, to: string): void {
  res.writeHead(303, { location: to, 'cache-control': 'no-store' });
  res.end();
}
