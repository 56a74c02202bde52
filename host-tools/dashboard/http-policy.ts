/**
 * The dashboard's HTTP rules as pure functions (docs/dashboard.md, "Security model"): the headers
 * every response carries, which Host and Origin a request may come with, and the session
 * cookie. The page shows what devices wrote while the server holds the operator's key, so a
 * device's text must never run as script (a strict Content-Security-Policy backs the page's
 * textContent-only rendering) and no other site may make the browser act (SameSite=Strict
 * cookie, Origin checked on every POST, JSON bodies only).
 *
 * @example
 * const policy = originPolicy({ scheme: 'http', port: 8090, listen: '127.0.0.1' });
 * policy.hostAllowed('127.0.0.1:8090'); // true
 * policy.originAllowed('https://evil.example'); // false
 */

/** No inline script or style, no eval, nothing from elsewhere, never in a frame. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(https: boolean): Record<string, string> {
  return {
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    // Not no-referrer: under it a browser sends `Origin: null` with a form's POST, and the login would be refused.
    'referrer-policy': 'same-origin',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    ...(https ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  };
}

export interface OriginPolicyOptions {
  scheme: 'http' | 'https';
  port: number;
  /** The address listened on. */
  listen: string;
  /** Further origins the operator reaches it by (`--origin https://ota.lan:8090`). */
  origins?: string[];
}

export interface OriginPolicy {
  /** The origins a page of this server has; the first is the one printed. */
  origins: string[];
  /**
   * Whether a request's Host header names this server. A name that is not ours is refused even
   * with a valid Origin for it: DNS rebinding points a foreign name at loopback, and the page of
   * that name would then be same-origin with itself.
   */
  hostAllowed: (host: string | undefined) => boolean;
  /** Whether an Origin header is one of ours; an action without one is refused. */
  originAllowed: (origin: string | undefined) => boolean;
}

export function originPolicy(o: OriginPolicyOptions): OriginPolicy {
  const hostOf = (h: string) => (h.includes(':') && !h.startsWith('[') ? `[${h}]` : h);
  const names = o.listen === '0.0.0.0' || o.listen === '::' ? ['127.0.0.1', 'localhost', '[::1]'] : o.listen === '127.0.0.1' ? ['127.0.0.1', 'localhost'] : [hostOf(o.listen)];
  const origins = [...names.map((n) => `${o.scheme}://${n}:${o.port}`), ...(o.origins ?? []).map((u) => new URL(u).origin)];
  const hosts = new Set(origins.map((u) => new URL(u).host));
  // URL drops a scheme's default port from host; a browser's Host header does the same.
  return {
    origins,
    hostAllowed: (host) => host !== undefined && hosts.has(host.toLowerCase()),
    originAllowed: (origin) => origin !== undefined && origins.includes(origin.toLowerCase()),
  };
}

export const SESSION_COOKIE = 'ota_dashboard_session';

/** The Set-Cookie value of a session: never readable by script, never sent by another site. */
export function sessionCookie(id: string, https: boolean, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${https ? '; Secure' : ''}`;
}

export function clearedCookie(https: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${https ? '; Secure' : ''}`;
}

/** The session id a Cookie header carries, or null. */
export function sessionFromCookie(header: string | undefined): string | null {
  if (header === undefined) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/** The largest request body taken (a login form, an action): anything bigger is refused unread. */
export const MAX_BODY_BYTES = 8 * 1024;
